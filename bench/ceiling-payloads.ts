// The messages the ceilings send: about the size of a kopilka evaluate request
// (a check of a few lines), so the ceilings' per-message cost compares with the
// real doors'. Built once; per request only the sequence number changes.

import { pack } from 'msgpackr';

/** Size of a WebSocket ceiling frame and of an HTTP ceiling body, in bytes. */
export const check_message_bytes = 320;
/** Size of the bytes field of a gRPC ceiling message, in bytes: with the id, ~320 on the wire. */
export const grpc_payload_bytes = 312;

/** The largest sequence number a msgpack uint32 holds; the ceiling frame format stops there. */
const seq_max = 0xffff_ffff;

/** A check as a POS terminal would send it, minus `pad` and the sequence number. */
function sampleCheck(seq: number): Record<string, unknown> {
  return {
    // First key, so a reply's sequence number is read without decoding the rest.
    s: seq,
    op: 'evaluate',
    terminal: 'T-000017',
    outlet: 'O-0003',
    card: '7700123456789012',
    key: 'idem-00000000000000000001',
    currency: 'RUB',
    total: 184_350,
    lines: [
      { sku: 'SKU-100231', qty: 2, price: 12_990 },
      { sku: 'SKU-100877', qty: 1, price: 54_990 },
      { sku: 'SKU-203311', qty: 3, price: 9_990 },
    ],
    pad: '',
  };
}

/** Grows the `pad` string until the encoded message reaches `targetBytes`. */
function padTo(message: Record<string, unknown>, encode: (m: unknown) => Buffer, targetBytes: number): Buffer {
  let encoded = encode(message);
  for (let padChars = 1; encoded.length < targetBytes; padChars++) {
    message.pad = 'x'.repeat(padChars);
    encoded = encode(message);
  }
  return encoded;
}

/**
 * Msgpack frames with the sequence number as a uint32 in the first map entry.
 * The template is packed once with the largest uint32, which forces the 5-byte
 * 0xce encoding; each frame is a copy with the number written in place.
 */
export function makeMsgpackCheckFrames(): (seq: number) => Buffer {
  const template = padTo(sampleCheck(seq_max), (m) => Buffer.from(pack(m)), check_message_bytes);
  const at = msgpackSeqOffset(template);
  if (at < 0 || template[at] !== 0xce) throw new Error('msgpack check template lost its uint32 sequence number');
  return (seq: number): Buffer => {
    if (seq > seq_max) throw new Error(`sequence number ${seq} exceeds the frame format's ${seq_max}`);
    const frame = Buffer.allocUnsafe(template.length);
    template.copy(frame);
    frame.writeUInt32BE(seq, at + 1);
    return frame;
  };
}

/**
 * The sequence number of a msgpack reply whose first map entry is `s: <uint>`,
 * however the server re-encoded it (fixint, uint8..uint64); -1 if the frame is not so.
 */
export function msgpackReplySeq(frame: Buffer): number {
  const at = msgpackSeqOffset(frame);
  if (at < 0) return -1;
  const tag = frame[at]!;
  if (tag <= 0x7f) return tag;
  switch (tag) {
    case 0xcc: return frame[at + 1]!;
    case 0xcd: return frame.readUInt16BE(at + 1);
    case 0xce: return frame.readUInt32BE(at + 1);
    case 0xcf: return Number(frame.readBigUInt64BE(at + 1));
    default: return -1;
  }
}

/** Where the value of the first map entry starts if its key is the 1-char string "s"; -1 otherwise. */
function msgpackSeqOffset(frame: Buffer): number {
  if (frame.length < 8) return -1;
  const head = frame[0]!;
  // fixmap (1 byte), map16 (3 bytes: msgpackr's choice) or map32 (5 bytes).
  const keyAt = head >= 0x80 && head <= 0x8f ? 1 : head === 0xde ? 3 : head === 0xdf ? 5 : -1;
  if (keyAt < 0 || frame[keyAt] !== 0xa1 || frame[keyAt + 1] !== 0x73) return -1;
  return keyAt + 2;
}

/** The JSON body of the HTTP ceiling: the same check as text. */
export function makeJsonCheckBody(): string {
  return padTo(sampleCheck(0), (m) => Buffer.from(JSON.stringify(m)), check_message_bytes).toString('utf8');
}

/** A fixed payload for the gRPC ceiling; contents do not matter to protobuf's cost. */
export function makeGrpcPayload(): Buffer {
  return Buffer.alloc(grpc_payload_bytes, 0x5a);
}
