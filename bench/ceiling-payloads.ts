// The messages the ceilings send: about the size of a kopilka evaluate request
// (a check of a few lines), so the ceilings' per-message cost compares with the
// real doors'. Built once; per request only the sequence number changes.

import { pack } from 'msgpackr';
import { frameTemplate } from './frame-template.js';

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
 * Msgpack frames with the sequence number as a uint32 in the first map entry
 * (frame-template.ts: packed once, each frame a copy with the number written in place).
 */
export function makeMsgpackCheckFrames(): (seq: number) => Buffer {
  const check = sampleCheck(seq_max);
  // Padded with the largest sequence number, whose 5-byte encoding every frame keeps.
  padTo(check, (m) => Buffer.from(pack(m)), check_message_bytes);
  const template = frameTemplate((s) => ({ ...check, s }), [], 's');
  if (msgpackSeqOffset(template.frame(0, [])) < 0) throw new Error('msgpack check template lost its sequence number as first entry');
  return (seq: number): Buffer => template.frame(seq, []);
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
