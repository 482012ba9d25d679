// Request frames for the WebSocket rows, packed once and patched per request, as the
// echo ceiling's frames are (ceiling-payloads.ts): the load client shares the cores
// with the server under test, so packing a whole frame per request (2-4 µs of the
// client's CPU on an evaluate) would be taken from kopilka and not from the ceiling.
//
//   const t = frameTemplate((id, [card]) => ({ id, op: 'evaluate', body: { ...check, card } }), [16]);
//   socket.send(t.frame(seq, [benchCard(seq)]));
//
// The template is packed with the largest uint32 id (forcing the 5-byte 0xce
// encoding, written in place) and one placeholder string per patched field, of the
// field's fixed width; each frame is a copy with the id and the fields written over.

import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const id_max = 0xffff_ffff;

export interface FrameTemplate {
  /** A frame whose id is `id` and whose patched fields are `fields`, each of its template width, ASCII. */
  frame(id: number, fields: readonly string[]): Buffer;
}

/**
 * `build(id, fields)` gives the frame's value, whose key `idKey` holds the id;
 * `widths[i]` is the length of field i in every frame. The template is checked
 * against `build` before it is used.
 */
export function frameTemplate(build: (id: number, fields: string[]) => unknown, widths: readonly number[], idKey = 'id'): FrameTemplate {
  // Placeholders of control characters, one per field: they occur nowhere else in a frame.
  const placeholders = widths.map((w, i) => String.fromCharCode(1 + i).repeat(w));
  assert.ok(widths.length < 31 && widths.every((w) => w >= 4 && w < 256), 'up to 30 fields of 4 to 255 characters');
  const template = Buffer.from(packr.pack(build(id_max, placeholders)));
  // The key as packed, then the uint32 marker: where the id is written.
  const idKeyU32 = Buffer.concat([packr.pack(idKey), Buffer.from([0xce])]);
  const idAt = template.indexOf(idKeyU32) + idKeyU32.length;
  assert.ok(idAt >= idKeyU32.length && template.readUInt32BE(idAt) === id_max, `the frame has an "${idKey}" key packed as a uint32`);
  const offsets = placeholders.map((p) => {
    const at = template.indexOf(Buffer.from(p, 'latin1'));
    assert.ok(at > 0 && template.indexOf(Buffer.from(p, 'latin1'), at + 1) < 0, 'each placeholder occurs once');
    return at;
  });
  const t: FrameTemplate = {
    frame(id, fields) {
      const frame = Buffer.allocUnsafe(template.length);
      template.copy(frame);
      frame.writeUInt32BE(id, idAt);
      for (let i = 0; i < offsets.length; i++) {
        const value = fields[i]!;
        if (value.length !== widths[i]) throw new Error(`field ${i} must be ${widths[i]} characters, not "${value}"`);
        frame.write(value, offsets[i]!, 'latin1');
      }
      return frame;
    },
  };
  // A frame from the template decodes to what build gives: nothing was patched in the wrong place.
  const sampleFields = widths.map((w, i) => String.fromCharCode(0x41 + i).repeat(w));
  assert.deepEqual(packr.unpack(t.frame(12_345_678, sampleFields)), build(12_345_678, sampleFields));
  return t;
}
