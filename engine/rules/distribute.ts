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
  const shares = new Array<number>(weights.length);
  split(amount, weights, weights.length, shares, true);
  return shares;
}

/** distribute over weights[0..n), written into shares[0..n): the engine's hot path allocates nothing. */
export function distributeInto(amount: number, weights: ArrayLike<number>, n: number, shares: Shares): void {
  split(amount, weights, n, shares, true);
}

/**
 * The same rule without the bound: shares in proportion to the weights, adding up
 * to `amount` even when it exceeds them (points accrued on a line may outnumber its
 * kopecks). With all weights 0 every weight counts as 1.
 */
export function apportion(amount: number, weights: readonly number[]): number[] {
  const shares = new Array<number>(weights.length);
  split(amount, weights, weights.length, shares, false);
  return shares;
}

/** apportion over weights[0..n), written into shares[0..n) (which may not be `weights`). */
export function apportionInto(amount: number, weights: ArrayLike<number>, n: number, shares: Shares): void {
  split(amount, weights, n, shares, false);
}

type Shares = { [i: number]: number };

// Remainders, reused (a split never nests).
let remainders = new Float64Array(64);

function split(amount: number, weights: ArrayLike<number>, n: number, shares: Shares, bounded: boolean): void {
  let total = 0;
  let integers = true;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    integers &&= w >= 0 && Number.isSafeInteger(w);
    total += w;
  }
  // `if (!…) assert(…)`: the same failures, without assert's cost per call on the hot path.
  if (bounded && !(amount <= total)) assert(false, 'distribute: amount must not exceed the sum of the weights');
  if (!(Number.isSafeInteger(amount) && amount >= 0)) assert(false, 'distribute: amount must be a non-negative safe integer');
  if (!(integers && Number.isSafeInteger(total))) assert(false, 'distribute: weights must be non-negative safe integers');
  if (amount === 0) {
    for (let i = 0; i < n; i++) shares[i] = 0;
    return;
  }
  if (!(n > 0)) assert(false, 'distribute: a positive amount needs at least one weight');
  if (total === 0) return split(amount, new Array<number>(n).fill(1), n, shares, false);
  if (amount === total) {
    for (let i = 0; i < n; i++) shares[i] = weights[i]!;
    return;
  }
  if (remainders.length < n) remainders = new Float64Array(Math.max(n, remainders.length * 2));
  const rest = remainders;
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
      rest[i] = r;
      given += q;
    }
  } else {
    const a = BigInt(amount);
    const t = BigInt(total);
    for (let i = 0; i < n; i++) {
      const p = a * BigInt(weights[i]!);
      shares[i] = Number(p / t);
      rest[i] = Number(p % t); // < total ≤ 2^53: exact
      given += shares[i]!;
    }
  }
  let left = amount - given; // < n: each floor loses less than one unit
  if (left === 0) return;
  if (n <= 16) {
    // Few lines: the largest remainder left, `left` times (the first of equal ones:
    // the lower index), each taken out of the running once it got its unit.
    for (; left > 0; left--) {
      let best = 0;
      let largestRest = -1;
      for (let i = 0; i < n; i++) {
        const r = rest[i]!;
        if (r > largestRest) {
          largestRest = r;
          best = i;
        }
      }
      shares[best] += 1;
      rest[best] = -1;
    }
    return;
  }
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((x, y) => rest[y]! - rest[x]! || x - y);
  for (let k = 0; k < left; k++) shares[order[k]!] += 1;
}

/** floor(value × bp / 10000), exact for any safe integer value. */
export function percentOf(value: number, bp: number): number {
  const p = value * bp;
  if (p <= Number.MAX_SAFE_INTEGER) return Math.floor(p / 10_000);
  return Number((BigInt(value) * BigInt(bp)) / 10_000n);
}
