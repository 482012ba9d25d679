// The bench's patched WebSocket frames decode to exactly what a fresh pack would give.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { frameTemplate } from '../../dist/bench/frame-template.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const check = (card: string, key: string) => ({ outlet: 'outlet-1', idempotencyKey: key, card, lines: [{ itemCode: 'A', quantity: 2, unitPrice: 990 }], pointsSpent: 0 });

describe('frameTemplate', () => {
  it('patches the id and every field in place', () => {
    const t = frameTemplate((id, [card, key]) => ({ id, op: 'commit', body: check(card!, key!) }), [16, 12]);
    for (const id of [0, 1, 127, 128, 65_535, 65_536, 0xffff_fffe]) {
      const card = `77${String(id).padStart(14, '0')}`;
      const key = `k-${String(id).padStart(10, '0')}`;
      expect(packr.unpack(t.frame(id, [card, key]))).toEqual({ id, op: 'commit', body: check(card, key) });
    }
  });

  it('writes the id under another key when told', () => {
    const t = frameTemplate((s) => ({ s, op: 'echo', pad: 'xx' }), [], 's');
    expect(packr.unpack(t.frame(70_000, []))).toEqual({ s: 70_000, op: 'echo', pad: 'xx' });
  });

  it('refuses a field of another width, and a value without a uint32 id', () => {
    const t = frameTemplate((id, [card]) => ({ id, body: { card } }), [8]);
    expect(() => t.frame(1, ['1234567'])).toThrow(/8 characters/);
    expect(() => frameTemplate((_id, [card]) => ({ seq: 1, card }), [8])).toThrow(/uint32/);
  });

  it('refuses a template whose fields do not reach the frame', () => {
    expect(() => frameTemplate((id) => ({ id, body: { card: 'fixed' } }), [8])).toThrow(/once/);
  });
});
