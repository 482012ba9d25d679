// HTTP load through autocannon's programmatic API, in this process, returning the
// same shape as the other drivers. Warmup is a separate autocannon run whose
// figures are dropped, so the measured run starts on a warm server.
//
// Latency: autocannon's own histogram stores whole milliseconds (p50 of a
// sub-millisecond server reads 0 or 1), so p50/p99 come from our recorder fed by
// autocannon's 'response' event (float ms from process.hrtime), counting 2xx only
// as autocannon does; autocannon's integer figures ride along as extras.

import autocannon from 'autocannon';
import { LatencyRecorder, type LoadResult } from './stats.js';
import type { LoadTiming } from './measure-window.js';

/** Seconds before autocannon counts a request as timed out. */
const request_timeout_s = 10;

export interface HttpLoadOptions extends LoadTiming {
  url: string;
  connections: number;
  /** Requests pipelined on each connection; 1 = one at a time. */
  pipelining?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export async function runHttpLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const base: autocannon.Options = {
    url: options.url,
    connections: options.connections,
    pipelining: options.pipelining ?? 1,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    timeout: request_timeout_s,
  };

  if (options.warmupMs > 0) await runAutocannon({ ...base, duration: options.warmupMs / 1000 }, undefined);

  const latency = new LatencyRecorder();
  options.onMeasureStart?.();
  const result = await runAutocannon({ ...base, duration: options.durationMs / 1000 }, latency);
  options.onMeasureEnd?.();

  const ops = result['2xx'];
  const errors = result.errors + result.non2xx + result.mismatches;
  return {
    ops,
    ops_per_s: result.duration > 0 ? ops / result.duration : 0,
    p50_ms: latency.percentileMs(50),
    p99_ms: latency.percentileMs(99),
    errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    autocannon_p50_ms: result.latency.p50,
    autocannon_p99_ms: result.latency.p99,
    connections: options.connections,
    pipelining: base.pipelining,
  };
}

function runAutocannon(opts: autocannon.Options, latency: LatencyRecorder | undefined): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (error, result) => (error ? reject(error) : resolve(result)));
    if (latency !== undefined) {
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
        if (statusCode >= 200 && statusCode < 300) latency.record(responseTimeMs);
      });
    }
  });
}
