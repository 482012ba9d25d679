// Closed-loop WebSocket load: N connections (the `ws` client), each keeping a fixed
// number of binary requests outstanding; a reply is matched to its request by the
// sequence number the caller's frame format carries, and the next request goes out
// at once. Generic over the frame format, so the ceiling echo and kopilka's own
// WebSocket door are driven by the same code.

import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { LatencyRecorder, type LoadResult } from './stats.js';
import { MeasureWindow, type LoadTiming } from './measure-window.js';
import { withTimeout } from './with-timeout.js';

/** How long all connections may take to open before the run fails, in ms. */
const connect_timeout_ms = 10_000;
/** How long closing handshakes may take before sockets are dropped, in ms. */
const close_timeout_ms = 2_000;
/** How often the open-loop pacer sends what is due, in ms. */
const pace_tick_ms = 2;
/** Largest reply frame accepted, in bytes (ws's default is 100 MiB). */
const reply_bytes_max = 1024 * 1024;

export interface WsLoadOptions extends LoadTiming {
  /** ws:// address of the server, path included. */
  url: string;
  connections: number;
  /** Requests outstanding on each connection at all times. */
  inflight: number;
  /**
   * The request frame. `seq` is unique over the whole run and must come back in
   * the reply, where `replySeq` finds it.
   */
  makeFrame: (connIndex: number, seq: number) => Buffer;
  /** The sequence number of a reply; any number not outstanding counts as unmatched. */
  replySeq: (frame: Buffer) => number;
  /** Whether a matched reply is a success; default: every reply is. Failures count in `errors`. */
  replyOk?: (frame: Buffer) => boolean;
  /** Headers of the upgrade request, e.g. a terminal key. */
  headers?: Record<string, string>;
  /**
   * Multi-step operations: given a reply, the next request of the same operation
   * (carrying `seq`), or undefined when the operation is complete. Latency then
   * runs from the operation's first request to its last reply.
   */
  nextFrame?: (connIndex: number, reply: Buffer, seq: number) => Buffer | undefined;
  /**
   * Open loop: send this many requests per second in all, spread over the
   * connections, instead of keeping `inflight` outstanding (which then only caps
   * each connection). For latency at a fixed share of the maximum throughput.
   */
  ratePerS?: number;
}

export interface WsLoadResult extends LoadResult {
  /** Replies whose sequence number was not outstanding on that connection. */
  unmatched: number;
  /** Replies that `replyOk` refused. */
  refused: number;
  /** Connection errors and unexpected closes. */
  connection_errors: number;
}

interface Conn {
  socket: WebSocket;
  index: number;
  /** seq -> send time (performance.now() ms); at most `inflight` entries. */
  sentAt: Map<number, number>;
}

export async function runWsLoad(options: WsLoadOptions): Promise<WsLoadResult> {
  const latency = new LatencyRecorder();
  let ops = 0;
  let unmatched = 0;
  let refused = 0;
  let connectionErrors = 0;
  let nextSeq = 0;
  const window = new MeasureWindow(options, () => {
    latency.reset();
    ops = 0;
    unmatched = 0;
    refused = 0;
    // Connection losses are kept from warmup too: they shrink the measured load.
  });

  const conns = await openConnections(options);

  const send = (conn: Conn): void => {
    const seq = nextSeq++;
    const frame = options.makeFrame(conn.index, seq);
    conn.sentAt.set(seq, performance.now());
    conn.socket.send(frame, { binary: true });
  };

  for (const conn of conns) {
    // binaryType is 'nodebuffer' (the default), so every frame arrives as one Buffer.
    conn.socket.on('message', (frame: Buffer) => {
      const now = performance.now();
      const seq = options.replySeq(frame);
      const sentAt = conn.sentAt.get(seq);
      if (sentAt === undefined) {
        unmatched += 1;
        return;
      }
      conn.sentAt.delete(seq);
      if (options.nextFrame !== undefined && !window.stopped) {
        const nextSeqOfOp = nextSeq++;
        const next = options.nextFrame(conn.index, frame, nextSeqOfOp);
        if (next !== undefined) {
          conn.sentAt.set(nextSeqOfOp, sentAt);
          conn.socket.send(next, { binary: true });
          return;
        }
      }
      if (window.measuring) {
        if (options.replyOk === undefined || options.replyOk(frame)) {
          ops += 1;
          latency.record(now - sentAt);
        } else {
          refused += 1;
        }
      }
      if (!window.stopped && options.ratePerS === undefined) send(conn);
    });
    // 'close' always follows 'error', so a lost connection is counted there, once;
    // the listener keeps an error from being thrown as unhandled.
    conn.socket.on('error', () => {});
    conn.socket.on('close', () => {
      if (!window.stopped) connectionErrors += 1;
    });
  }

  const done = window.run();
  let pacer: NodeJS.Timeout | undefined;
  if (options.ratePerS === undefined) {
    for (const conn of conns) {
      for (let i = 0; i < options.inflight; i++) send(conn);
    }
  } else {
    const rate = options.ratePerS;
    const started = performance.now();
    let sent = 0;
    let next = 0;
    pacer = setInterval(() => {
      if (window.stopped) return;
      const due = Math.floor(((performance.now() - started) / 1000) * rate) - sent;
      for (let i = 0; i < due; i++) {
        const conn = conns[next++ % conns.length]!;
        sent += 1;
        // A connection at its cap skips this send: the load stays bounded.
        if (conn.sentAt.size < options.inflight) send(conn);
      }
    }, pace_tick_ms);
  }
  await done;
  if (pacer !== undefined) clearInterval(pacer);
  await closeConnections(conns);

  const elapsedS = window.elapsedMs / 1000;
  return {
    ops,
    ops_per_s: elapsedS > 0 ? ops / elapsedS : 0,
    p50_ms: latency.percentileMs(50),
    p99_ms: latency.percentileMs(99),
    errors: unmatched + refused + connectionErrors,
    unmatched,
    refused,
    connection_errors: connectionErrors,
    connections: options.connections,
    inflight: options.inflight,
  };
}

/** Opens every connection or fails the whole run: fewer connections than asked would skew the figure. */
async function openConnections(options: WsLoadOptions): Promise<Conn[]> {
  const sockets: WebSocket[] = [];
  try {
    const opened = Array.from({ length: options.connections }, (_, index) => {
      const socket = new WebSocket(options.url, {
        headers: options.headers,
        // Compression would measure zlib, not the server.
        perMessageDeflate: false,
        maxPayload: reply_bytes_max,
      });
      sockets.push(socket);
      return new Promise<Conn>((resolve, reject) => {
        socket.once('open', () => resolve({ socket, index, sentAt: new Map() }));
        socket.once('error', reject);
        socket.once('unexpected-response', (_req, res) =>
          reject(new Error(`WebSocket upgrade to ${options.url} refused: HTTP ${res.statusCode}`)));
      });
    });
    return await withTimeout(Promise.all(opened), connect_timeout_ms,
      `${options.connections} WebSocket connections to ${options.url} did not open within ${connect_timeout_ms} ms`);
  } catch (error) {
    for (const socket of sockets) socket.terminate();
    throw error;
  }
}

async function closeConnections(conns: Conn[]): Promise<void> {
  const closed = conns.map(({ socket }) => new Promise<void>((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once('close', () => resolve());
    socket.close(1000, 'benchmark done');
  }));
  try {
    await withTimeout(Promise.all(closed), close_timeout_ms, 'close timeout');
  } catch {
    for (const { socket } of conns) socket.terminate();
  }
}
