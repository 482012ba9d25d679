// The distribution rule: largest remainder, ties by the lower index; exact to the
// minor unit, never negative, never above a weight.

import { describe, expect, it } from 'vitest';
import { apportion, distribute, percentOf } from '../../dist/engine/rules/index.js';
import { Rng } from './prng.js';

describe('distribute', () => {
  it('gives the left-over units to the largest remainders', () => {
    // 100 over 100:100:100 → 33.33 each; 100 − 99 = 1 unit left → the first (equal remainders: lower index).
    expect(distribute(100, [100, 100, 100])).toEqual([34, 33, 33]);
    // 10 over 50000:33333: 10×50000/83333 = 6.00002 (remainder 2), 10×33333/83333 = 3.99998 (remainder 83331) → [6, 4].
    expect(distribute(10, [50_000, 33_333])).toEqual([6, 4]);
    // 7 over 3:3:1 → 3, 3, 1 exactly.
    expect(distribute(7, [3, 3, 1])).toEqual([3, 3, 1]);
    // 5 over 2:2:2:2 → 1.25 each: floors 1,1,1,1 and the fifth unit to index 0.
    expect(distribute(5, [2, 2, 2, 2])).toEqual([2, 1, 1, 1]);
    expect(distribute(0, [5, 0, 7])).toEqual([0, 0, 0]);
    expect(distribute(12, [5, 0, 7])).toEqual([5, 0, 7]);
  });

  it('refuses more than the weights can take: a programmer error', () => {
    expect(() => distribute(13, [5, 0, 7])).toThrow(/must not exceed/);
    expect(() => distribute(-1, [5])).toThrow(/non-negative/);
    expect(() => distribute(1.5, [5])).toThrow(/non-negative safe integer/);
  });

  it('apportions beyond the weights, and over zero weights evenly', () => {
    expect(apportion(10, [1, 3])).toEqual([3, 7]); // 2.5 → 2 (+1 by remainder 2 of 4 vs 2: tie → index 0), 7.5 → 7
    expect(apportion(5, [0, 0])).toEqual([3, 2]);
  });

  it('is exact for amounts beyond 2^53 intermediate products', () => {
    const weights = [99_999_999_999, 1, 33_333_333_333];
    const shares = distribute(99_999_999_998, weights);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(99_999_999_998);
    shares.forEach((s, i) => expect(s).toBeLessThanOrEqual(weights[i]!));
    expect(percentOf(100_000_000_000, 3_333)).toBe(33_330_000_000);
    expect(percentOf(99_999_999_999, 9_999)).toBe(99_989_999_999);
  });

  it('holds its invariants over random inputs (seeded)', () => {
    for (let seed = 1; seed <= 2_000; seed++) {
      const r = new Rng(seed);
      const n = r.int(1, 12);
      const big = r.chance(0.1);
      const weights = Array.from({ length: n }, () => (r.chance(0.15) ? 0 : r.int(0, big ? 10_000_000_000 : 100_000)));
      const total = weights.reduce((a, b) => a + b, 0);
      const amount = r.int(0, total);
      const shares = distribute(amount, weights);
      expect(shares.reduce((a, b) => a + b, 0), `seed ${seed}`).toBe(amount);
      for (let i = 0; i < n; i++) {
        expect(shares[i]!, `seed ${seed}`).toBeGreaterThanOrEqual(0);
        expect(shares[i]!, `seed ${seed}`).toBeLessThanOrEqual(weights[i]!);
        // Within one unit of the exact proportional share.
        if (total > 0 && !big) expect(Math.abs(shares[i]! - (amount * weights[i]!) / total), `seed ${seed}`).toBeLessThan(1);
      }
      expect(distribute(amount, weights)).toEqual(shares);
    }
  });
});
