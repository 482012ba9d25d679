// Closed-loop gRPC load, generic over the client: the caller hands in a function
// that makes one unary call, or one that opens a bidirectional stream, so the
// ceiling echo service and kopilka's own service are driven by the same code.

import { performance } from 'node:perf_hooks';
import type { ClientDuplexStream } from '@grpc/grpc-js';
import { LatencyRecorder, type LoadResult } from './stats.js';
import { MeasureWindow, type LoadTiming } from './measure-window.js';
import { withTimeout } from './with-timeout.js';

/** How long open streams may take to finish after the run before they are cancelled, in ms. */
const stream_close_timeout_ms = 2_000;
/** How long calls still in flight after the run may take before the driver returns anyway, in ms. */
const drain_timeout_ms = 5_000;

export interface GrpcUnaryLoadOptions<Req> extends LoadTiming {
  /** One call; a rejection counts as an error. */
  call: (request: Req) => Promise<unknown>;
  /** The i-th request of the run (i is unique over the run). */
  makeRequest: (i: number) => Req;
  /** Calls outstanding at all times. */
  concurrency: number;
}

/** `concurrency` loops, each awaiting one call before making the next. */
export async function runGrpcUnaryLoad<Req>(options: GrpcUnaryLoadOptions<Req>): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  let ops = 0;
  let errors = 0;
  let nextIndex = 0;
  const window = new MeasureWindow(options, () => {
    latency.reset();
    ops = 0;
    errors = 0;
  });

  const loop = async (): Promise<void> => {
    while (!window.stopped) {
      const request = options.makeRequest(nextIndex++);
      const sentAt = performance.now();
      try {
        await options.call(request);
        if (window.measuring) {
          ops += 1;
          latency.record(performance.now() - sentAt);
        }
      } catch {
        if (window.measuring) errors += 1;
      }
    }
  };

  const done = window.run();
  const loops = Array.from({ length: options.concurrency }, loop);
  await done;
  // Calls still in flight finish outside the window and are not counted.
  await withTimeout(Promise.all(loops), drain_timeout_ms, 'unary calls did not drain').catch(() => {});

  const elapsedS = window.elapsedMs / 1000;
  return {
    ops,
    ops_per_s: elapsedS > 0 ? ops / elapsedS : 0,
    p50_ms: latency.percentileMs(50),
    p99_ms: latency.percentileMs(99),
    errors,
    concurrency: options.concurrency,
  };
}

export interface GrpcStreamLoadOptions<Req, Rep> extends LoadTiming {
  /** Opens one bidirectional stream, e.g. `() => client.Bidi()`. */
  openStream: () => ClientDuplexStream<Req, Rep>;
  /** The request carrying `seq` (unique over the run), which the reply must carry back. */
  makeRequest: (seq: number) => Req;
  /** The sequence number of a reply; any number not outstanding counts as unmatched. */
  replySeq: (reply: Rep) => number;
  /** Whether a matched reply is a success; default: every reply is. Failures count in `errors`. */
  replyOk?: (reply: Rep) => boolean;
  streams: number;
  /** Messages outstanding on each stream at all times. */
  inflight: number;
}

interface OpenStream<Req, Rep> {
  stream: ClientDuplexStream<Req, Rep>;
  /** seq -> send time (performance.now() ms); at most `inflight` entries. */
  sentAt: Map<number, number>;
  /** Resolves when the stream has finished, one way or another. */
  finished: Promise<void>;
}

/** `streams` streams, each with `inflight` messages outstanding; a reply sends the next message. */
export async function runGrpcStreamLoad<Req, Rep>(options: GrpcStreamLoadOptions<Req, Rep>): Promise<LoadResult> {
  const latency = new LatencyRecorder();
  let ops = 0;
  let unmatched = 0;
  let refused = 0;
  let streamErrors = 0;
  let nextSeq = 0;
  const window = new MeasureWindow(options, () => {
    latency.reset();
    ops = 0;
    unmatched = 0;
    refused = 0;
    // Connection losses are kept from warmup too: they shrink the measured load.
  });

  const send = (open: OpenStream<Req, Rep>): void => {
    const seq = nextSeq++;
    open.sentAt.set(seq, performance.now());
    // write() returning false only means the buffer is above its high-water mark;
    // with a bounded number in flight the buffer stays bounded, so no waiting on 'drain'.
    open.stream.write(options.makeRequest(seq));
  };

  const streams: OpenStream<Req, Rep>[] = Array.from({ length: options.streams }, () => {
    const stream = options.openStream();
    const open: OpenStream<Req, Rep> = {
      stream,
      sentAt: new Map(),
      // 'status' always comes last, after an error too; 'close' covers a stream torn down without one.
      finished: new Promise<void>((resolve) => {
        stream.once('status', () => resolve());
        stream.once('close', () => resolve());
      }),
    };
    stream.on('data', (reply: Rep) => {
      const now = performance.now();
      const seq = options.replySeq(reply);
      const sentAt = open.sentAt.get(seq);
      if (sentAt === undefined) {
        unmatched += 1;
        return;
      }
      open.sentAt.delete(seq);
      if (window.measuring) {
        if (options.replyOk === undefined || options.replyOk(reply)) {
          ops += 1;
          latency.record(now - sentAt);
        } else {
          refused += 1;
        }
      }
      if (!window.stopped) send(open);
    });
    stream.on('error', () => {
      // A cancel at the end of the run also lands here; only errors during the run count.
      if (!window.stopped) streamErrors += 1;
    });
    return open;
  });

  const done = window.run();
  for (const open of streams) {
    for (let i = 0; i < options.inflight; i++) send(open);
  }
  await done;

  for (const open of streams) open.stream.end();
  try {
    await withTimeout(Promise.all(streams.map((open) => open.finished)), stream_close_timeout_ms, 'streams did not finish');
  } catch {
    for (const open of streams) open.stream.cancel();
  }

  const elapsedS = window.elapsedMs / 1000;
  return {
    ops,
    ops_per_s: elapsedS > 0 ? ops / elapsedS : 0,
    p50_ms: latency.percentileMs(50),
    p99_ms: latency.percentileMs(99),
    errors: unmatched + refused + streamErrors,
    unmatched,
    refused,
    stream_errors: streamErrors,
    streams: options.streams,
    inflight: options.inflight,
  };
}
