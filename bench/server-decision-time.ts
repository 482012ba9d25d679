// The server-side decision time (request decoded → answer encoded), read from
// kopilka's own /metrics histogram `kopilka_request_duration_seconds` as the
// difference between two scrapes around the measured window. Percentiles are
// interpolated within buckets (bucket edges: engine/metrics.ts).

export type Buckets = Map<number, number>; // upper edge (s) → cumulative count

export function parseBuckets(text: string, door: string, op: string): Buckets {
  const buckets: Buckets = new Map();
  const re = /^kopilka_request_duration_seconds_bucket\{([^}]*)\} (\d+(?:\.\d+)?)$/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const labels = m[1]!;
    if (!labels.includes(`door="${door}"`) || !labels.includes(`op="${op}"`)) continue;
    const le = /le="([^"]+)"/.exec(labels)![1]!;
    buckets.set(le === '+Inf' ? Infinity : Number(le), Number(m[2]));
  }
  return buckets;
}

/** p-th percentile in ms of the observations between two scrapes; undefined without any. */
export function percentileMs(before: Buckets, after: Buckets, p: number): number | undefined {
  const edges = [...after.keys()].sort((a, b) => a - b);
  const counts = edges.map((e) => (after.get(e) ?? 0) - (before.get(e) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return undefined;
  const rank = (p / 100) * total;
  let lowerEdge = 0;
  let lowerCount = 0;
  for (let i = 0; i < edges.length; i++) {
    if (counts[i]! >= rank) {
      const upper = edges[i] === Infinity ? lowerEdge : edges[i]!;
      const inBucket = counts[i]! - lowerCount;
      const share = inBucket > 0 ? (rank - lowerCount) / inBucket : 1;
      return (lowerEdge + share * (upper - lowerEdge)) * 1000;
    }
    lowerEdge = edges[i]!;
    lowerCount = counts[i]!;
  }
  return undefined;
}
