// Latency recording for the load drivers, and the one result shape every benchmark
// row has. The recorder is a fixed log-bucket histogram: constant memory however
// long a run lasts (a load driver records 10^5-10^6 samples a second, so an array
// of samples would grow without bound), and a percentile is off by at most half a
// bucket, i.e. under 0.5%.

/** Smallest latency kept apart from zero, in ms (1 us); smaller ones share the first bucket. */
export const latency_min_ms = 0.001;
/** Largest latency kept apart, in ms (60 s); larger ones share the last bucket. */
export const latency_max_ms = 60_000;
/** Upper bound over lower bound of one bucket: 1% wide, so the middle is within 0.5%. */
const bucket_width_ratio = 1.01;

const ln_bucket_width = Math.log(bucket_width_ratio);
/** 1,801 buckets cover 1 us..60 s: 14 KiB per recorder. */
const bucket_count = Math.ceil(Math.log(latency_max_ms / latency_min_ms) / ln_bucket_width) + 1;

/** One row of the benchmark: a kopilka scenario or a ceiling. Extra keys carry details (errors, server CPU). */
export interface BenchResult {
  name: string;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  [extra: string]: unknown;
}

/** What a load driver returns; `toBenchResult` names it. */
export interface LoadResult {
  /** Operations completed successfully inside the measured window (after warmup). */
  ops: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  /** Failed operations and transport errors inside the measured window. */
  errors: number;
  [extra: string]: unknown;
}

export function toBenchResult(name: string, load: LoadResult): BenchResult {
  const { ops_per_s, p50_ms, p99_ms, ...extra } = load;
  return { name, ops_per_s, p50_ms, p99_ms, ...extra };
}

/** Bounded latency histogram; record() costs one Math.log. */
export class LatencyRecorder {
  private readonly counts = new Float64Array(bucket_count);
  private total = 0;
  private minSeenMs = Infinity;
  private maxSeenMs = 0;
  private sumMs = 0;

  record(ms: number): void {
    // NaN or negative (clock oddities) land in the first bucket rather than throwing mid-run.
    const index = ms > latency_min_ms
      ? Math.min(bucket_count - 1, Math.floor(Math.log(ms / latency_min_ms) / ln_bucket_width))
      : 0;
    this.counts[index]! += 1;
    this.total += 1;
    if (ms < this.minSeenMs) this.minSeenMs = ms;
    if (ms > this.maxSeenMs) this.maxSeenMs = ms;
    this.sumMs += ms;
  }

  get count(): number {
    return this.total;
  }

  get meanMs(): number {
    return this.total === 0 ? 0 : this.sumMs / this.total;
  }

  get maxMs(): number {
    return this.maxSeenMs;
  }

  /** The latency at or below which `percent`% of the samples fall, in ms; 0 when empty. */
  percentileMs(percent: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < bucket_count; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        // The geometric middle of the bucket, kept inside what was really seen so
        // that a run of identical samples reports exactly that value.
        const middle = latency_min_ms * Math.pow(bucket_width_ratio, i + 0.5);
        return Math.min(this.maxSeenMs, Math.max(this.minSeenMs, middle));
      }
    }
    return this.maxSeenMs;
  }

  /** Adds another recorder's samples, e.g. one per worker. */
  merge(other: LatencyRecorder): void {
    for (let i = 0; i < bucket_count; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.minSeenMs = Math.min(this.minSeenMs, other.minSeenMs);
    this.maxSeenMs = Math.max(this.maxSeenMs, other.maxSeenMs);
    this.sumMs += other.sumMs;
  }

  /** Forgets every sample: called when warmup ends. */
  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.minSeenMs = Infinity;
    this.maxSeenMs = 0;
    this.sumMs = 0;
  }
}

/** Rounds a figure for tables and JSON: 3 significant digits below 100, whole numbers above. */
export function round3(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  if (Math.abs(value) >= 100) return Math.round(value);
  return Number(value.toPrecision(3));
}
