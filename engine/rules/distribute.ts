// Splitting an amount over the lines of a check, exactly to the minor unit.
//
// The rule (largest remainder, Hamilton's method), for an amount A over integer
// weights w_i with W = Σ w_i and 0 ≤ A ≤ W:
//   1. each share starts at floor(A × w_i / W);
//   2. the R = A − Σ floor(…) minor units left go, one each, to the R shares with the
//      largest remainders (A × w_i) mod W; equal remainders go to the lower index.
// So the shares add up to A exactly, none is negative, and none exceeds its weight
// (a share gets the extra unit only when A × w_i / W is not whole, i.e. floor < w_i).
// Weights are what a line can still take (its sum, or what earlier discounts left
// of it), so a discount distributed this way never exceeds a line.
// Products beyond 2^53 (a 10^11 amount over 10^11 weights) are done in BigInt.

import assert from 'node:assert/strict';

export function distribute(amount: number, weights: readonly number[]): number[] {
  assert(amount <= sum(weights), 'distribute: amount must not exceed the sum of the weights');
  return apportion(amount, weights);
}

function sum(values: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
}

/**
 * The same rule without the bound: shares in proportion to the weights, adding up
 * to `amount` even when it exceeds them (points accrued on a line may outnumber its
 * kopecks). With all weights 0 every weight counts as 1.
 */
export function apportion(amount: number, weights: readonly number[]): number[] {
  assert(Number.isSafeInteger(amount) && amount >= 0, 'distribute: amount must be a non-negative safe integer');
  const n = weights.length;
  let total = 0;
  let integers = true;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    integers &&= w >= 0 && Number.isSafeInteger(w);
    total += w;
  }
  assert(integers && Number.isSafeInteger(total), 'distribute: weights must be non-negative safe integers');
  const shares = new Array<number>(n).fill(0);
  if (amount === 0) return shares;
  assert(n > 0, 'distribute: a positive amount needs at least one weight');
  if (total === 0) return apportion(amount, new Array<number>(n).fill(1));
  if (amount === total) {
    for (let i = 0; i < n; i++) shares[i] = weights[i]!;
    return shares;
  }
  const remainders = new Array<number>(n);
  let given = 0;
  // amount × w ≤ amount × total; below 2^53 plain arithmetic is exact.
  if (amount * total <= Number.MAX_SAFE_INTEGER) {
    for (let i = 0; i < n; i++) {
      const p = amount * weights[i]!;
      // floor division without fmod: the quotient may be off by one in a double; correct it.
      let q = Math.floor(p / total);
      let r = p - q * total;
      if (r < 0) {
        q--;
        r += total;
      } else if (r >= total) {
        q++;
        r -= total;
      }
      shares[i] = q;
      remainders[i] = r;
      given += q;
    }
  } else {
    const a = BigInt(amount);
    const t = BigInt(total);
    for (let i = 0; i < n; i++) {
      const p = a * BigInt(weights[i]!);
      shares[i] = Number(p / t);
      remainders[i] = Number(p % t); // < total ≤ 2^53: exact
      given += shares[i]!;
    }
  }
  let left = amount - given; // < n: each floor loses less than one unit
  if (left === 0) return shares;
  if (n <= 16) {
    // Few lines: pick the largest remainder (first of equals) `left` times.
    for (; left > 0; left--) {
      let best = 0;
      for (let i = 1; i < n; i++) if (remainders[i]! > remainders[best]!) best = i;
      shares[best] += 1;
      remainders[best] = -1;
    }
    return shares;
  }
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((x, y) => remainders[y]! - remainders[x]! || x - y);
  for (let k = 0; left > 0; k++, left--) shares[order[k]!] += 1;
  return shares;
}

/** floor(value × bp / 10000), exact for any safe integer value. */
export function percentOf(value: number, bp: number): number {
  const p = value * bp;
  if (p <= Number.MAX_SAFE_INTEGER) return Math.floor(p / 10_000);
  return Number((BigInt(value) * BigInt(bp)) / 10_000n);
}
