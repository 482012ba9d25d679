// protocol/frame-decoder.ts must give exactly what msgpackr's unpack gives (the value, or
// an error), for every frame: the ones it decodes itself and the ones it hands over.

import { isDeepStrictEqual } from 'node:util';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../dist/protocol/frame-decoder.js';
import { Prng } from '../../dist/engine/simulation/prng.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** What msgpackr gives for these bytes: its value, or its error's message. */
function reference(bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: packr.unpack(bytes) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function decoded(bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: decodeFrame(bytes) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function expectSame(bytes: Uint8Array): void {
  const want = reference(bytes);
  const got = decoded(bytes);
  if ('value' in want && 'value' in got) {
    expect(isDeepStrictEqual(got.value, want.value), `decoded ${Buffer.from(bytes).toString('hex')}`).toBe(true);
    // Same own keys in the same order, and the same prototype (no __proto__ tricks).
    expect(JSON.stringify(got.value)).toBe(JSON.stringify(want.value));
  } else {
    expect(got).toEqual(want);
  }
}

const check = (lines: number, card = '7000000000012345') => ({
  id: 42,
  op: 'evaluate',
  body: {
    outlet: 'outlet-1',
    time: '2026-11-24T12:30:00+03:00',
    currency: 'RUB',
    card,
    lines: Array.from({ length: lines }, (_, i) => ({ itemCode: `SKU-${i}`, category: i % 2 === 0 ? 'beer' : 'food', quantity: i + 1, unitPrice: 12_990 * (i + 1) })),
    pointsToSpend: 0,
  },
});

/** A random value of what msgpack carries, with keys and strings a client might send (and some it should not). */
function randomValue(r: Prng, depth: number): unknown {
  const kind = r.int(0, depth > 4 ? 7 : 10);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      // Every integer width, both signs.
      return [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -32, -33, -128, -129, -32_768, -32_769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1][r.int(0, 21)];
    case 3:
      return [0.5, -1.25, 1e300, 3.141592653589793, Number.MIN_VALUE, -0][r.int(0, 5)];
    case 4:
    case 5:
      return randomString(r);
    case 6:
      return r.int(0, 1_000_000);
    case 7:
      return Buffer.from([1, 2, 3]);
    case 8:
      return Array.from({ length: r.int(0, 5) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = r.int(0, 6);
      for (let i = 0; i < n; i++) o[randomKey(r)] = randomValue(r, depth + 1);
      return o;
    }
  }
}

const KEYS = ['id', 'op', 'body', 'card', 'lines', 'itemCode', 'quantity', 'unitPrice', 'x', 'constructor', 'toString', 'hasOwnProperty', '1', '', 'with space', 'кириллица', 'a'.repeat(40), '$ok', '_'];
const randomKey = (r: Prng): string => KEYS[r.int(0, KEYS.length - 1)]!;

function randomString(r: Prng): string {
  const pick = r.int(0, 5);
  if (pick === 0) return '';
  if (pick === 1) return 'Пиво светлое';
  if (pick === 2) return 'x'.repeat(r.int(0, 300));
  if (pick === 3) return '🍺 beer';
  return `SKU-${r.int(0, 99_999)}`;
}

describe('decodeFrame', () => {
  it('decodes the frames terminals send as msgpackr does, lines sharing one shape', () => {
    for (const lines of [0, 1, 3, 8, 40]) expectSame(packr.pack(check(lines)));
    const frame = decodeFrame(packr.pack(check(3))) as { body: { lines: object[] } };
    expect(Object.keys(frame.body.lines[2]!)).toEqual(['itemCode', 'category', 'quantity', 'unitPrice']);
    expect(Object.getPrototypeOf(frame.body.lines[0])).toBe(Object.prototype);
  });

  it('gives what msgpackr gives for random values (seeded), including what it hands over', () => {
    const r = new Prng(20261124);
    for (let i = 0; i < 3_000; i++) expectSame(packr.pack(randomValue(r, 0)));
  });

  it('keeps a repeated key last, and a map of a key order seen before in that order', () => {
    // {a:1, b:2, a:3} packed by hand: msgpackr keeps a's last value in a's first place.
    expectSame(Uint8Array.from([0x83, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x02, 0xa1, 0x61, 0x03]));
    expectSame(packr.pack({ b: 1, a: 2 }));
    expectSame(packr.pack({ a: 1, b: 2 }));
    expectSame(packr.pack({ b: 1, a: 2 }));
  });

  it('never lets a key reach the prototype', () => {
    // {"__proto__": {"polluted": true}} packed by hand.
    const bytes = Uint8Array.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa8, ...Buffer.from('polluted'), 0xc3]);
    expectSame(bytes);
    const value = decodeFrame(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('fails as msgpackr fails on truncated frames, bytes left over and bad tags', () => {
    const full = packr.pack(check(3));
    for (let cut = 0; cut < full.length; cut += 7) expectSame(full.subarray(0, cut));
    expectSame(Buffer.concat([full, Buffer.from([0x01])]));
    expectSame(Uint8Array.from([0xc1]));
    expectSame(Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff]));
    expectSame(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]));
  });

  it('hands deep nesting to msgpackr', () => {
    let v: unknown = 1;
    for (let i = 0; i < 40; i++) v = i % 2 === 0 ? [v] : { k: v };
    expectSame(packr.pack(v));
  });

  it('keeps decoding right once its table of key orders is full', () => {
    // Thousands of distinct key orders: beyond the table, maps are built key by key.
    for (let i = 0; i < 1_500; i++) expectSame(packr.pack({ [`k${i}`]: i, [`j${i}`]: { [`m${i % 7}`]: 'v' } }));
    expectSame(packr.pack(check(8)));
  });
});
