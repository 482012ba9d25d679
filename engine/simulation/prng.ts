// The simulation's only source of chance: mulberry32, a 32-bit generator whose
// whole state is one integer, so a seed names a run exactly and the same seed
// replays the same run on any machine. Never Math.random, never the wall clock.

export class Prng {
  private state: number;

  constructor(seed: number) {
    // Mixing the seed once keeps neighbouring seeds (1, 2, 3…) from starting alike.
    this.state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** A uniform integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** An integer in [min, max] spread evenly over orders of magnitude: as many minutes as months. */
  logInt(min: number, max: number): number {
    const lo = Math.log(Math.max(1, min));
    const hi = Math.log(max);
    return Math.min(max, Math.max(min, Math.round(Math.exp(lo + this.next() * (hi - lo)))));
  }

  /** One of `choices` drawn with its weight; weights need not sum to anything. */
  weighted<T extends string>(choices: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of choices) total += w;
    let x = this.next() * total;
    for (const [c, w] of choices) {
      if (x < w) return c;
      x -= w;
    }
    return choices[choices.length - 1]![0];
  }
}
