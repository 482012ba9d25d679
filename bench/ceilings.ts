// The ceilings: what the chosen libraries allow on this machine in this very run,
// measured with the same drivers and the same message sizes as kopilka's rows, so
// each kopilka figure reads as a share of what is possible here and now (the
// machine is shared and noisy; absolute figures drift, ratios much less).
// Settings follow shared/MEASURED.md's probes so figures compare with it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { open } from 'lmdb';
import { runWsLoad } from './ws-load.js';
import { runHttpLoad } from './http-load.js';
import { runGrpcStreamLoad, runGrpcUnaryLoad } from './grpc-load.js';
import { loadEchoService, type EchoMsg } from './echo-proto.js';
import { makeGrpcPayload, makeJsonCheckBody, makeMsgpackCheckFrames, msgpackReplySeq } from './ceiling-payloads.js';
import { CpuWindow } from './process-cpu.js';
import { LatencyRecorder, toBenchResult, type BenchResult, type LoadResult } from './stats.js';
import type { LoadTiming } from './measure-window.js';
import type { Scenario } from './scenario.js';
import { withTimeout } from './with-timeout.js';
import { ceilingLmdbCommitPattern, lmdb_commit_pattern_row } from './lmdb-commit-ceiling.js';

/** Row names of the ceilings; a kopilka Scenario names one of these as its `ceiling`. */
export const CEILING = {
  uwsWsEcho: 'ceiling.uws_ws_echo',
  uwsHttp: 'ceiling.uws_http',
  grpcUnaryEcho: 'ceiling.grpc_unary_echo',
  grpcBidiEcho: 'ceiling.grpc_bidi_echo',
  lmdbDurableWrites: 'ceiling.lmdb_durable_writes',
  lmdbDurableWritesRandomKeys: 'ceiling.lmdb_durable_writes_random_keys',
  lmdbCommitPattern: lmdb_commit_pattern_row,
} as const;

const ws_connections = 50;
const ws_inflight_per_connection = 32;
const http_connections = 50;
const grpc_unary_concurrency = 50;
const grpc_bidi_streams = 4;
const grpc_bidi_inflight_per_stream = 64;
/** Puts issued in one event turn and awaited together (one LMDB transaction). */
const lmdb_batch_puts = 1_000;
/** Size of one LMDB value, in bytes: a guest's balances and counters. */
const lmdb_value_bytes = 160;
/** Distinct keys of the random-key ceiling: updates land on existing guests and the file stays small (~30 MB). */
const lmdb_random_key_space_count = 100_000;

/**
 * Where a batch's puts land. 'append': fresh increasing keys (a journal), a few
 * pages per commit: the best case, the figure MEASURED.md's probe gives. 'random':
 * keys spread over the key space (guests' balances), so one commit rewrites about
 * one B-tree page per put: ~7x slower here, and the ceiling of an update path.
 */
export type LmdbKeyPattern = 'append' | 'random';

/** How long the ceiling servers may take to print their ports, in ms. */
const servers_ready_timeout_ms = 10_000;
/** How long they may take to exit after SIGTERM before SIGKILL, in ms. */
const servers_exit_timeout_ms = 3_000;
/** How long a gRPC channel may take to connect, in ms. */
const grpc_connect_timeout_ms = 5_000;

export interface CeilingServers {
  wsPort: number;
  httpPort: number;
  grpcPort: number;
  /** The child's pid, for its CPU time. */
  pid: number;
  msgpackrNative: boolean;
  stop: () => Promise<void>;
}

/** Starts `ceiling-servers.js` (beside this file) as a child process and waits for its ports. */
export async function startCeilingServers(): Promise<CeilingServers> {
  const script = fileURLToPath(new URL('./ceiling-servers.js', import.meta.url));
  // stdin stays a pipe: the child exits when it closes, i.e. when this process dies.
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        reject(new Error(`ceiling servers printed ${JSON.stringify(line)} instead of their ports`));
      }
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`ceiling servers exited early (code ${code}, signal ${signal})`)));
  });

  let ports: Record<string, unknown>;
  try {
    ports = await withTimeout(ready, servers_ready_timeout_ms, `ceiling servers not ready within ${servers_ready_timeout_ms} ms`);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    wsPort: Number(ports.ws),
    httpPort: Number(ports.http),
    grpcPort: Number(ports.grpc),
    pid: child.pid!,
    msgpackrNative: ports.msgpackr_native === true,
    stop: () => stopChild(child, exited),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  try {
    await withTimeout(exited, servers_exit_timeout_ms, 'ceiling servers ignored SIGTERM');
  } catch {
    child.kill('SIGKILL');
    await exited;
  }
}

/** CPU per operation of the server and of this (load generator) process over the measured window. */
function cpuWindows(serverPid: number): { timing: (t: LoadTiming) => LoadTiming; extras: (ops: number) => Record<string, unknown> } {
  const server = new CpuWindow(serverPid);
  const client = new CpuWindow(process.pid);
  return {
    timing: (t) => ({
      ...t,
      onMeasureStart: () => {
        server.onMeasureStart();
        client.onMeasureStart();
        t.onMeasureStart?.();
      },
      onMeasureEnd: () => {
        server.onMeasureEnd();
        client.onMeasureEnd();
        t.onMeasureEnd?.();
      },
    }),
    extras: (ops) => ({ server_cpu_us_per_op: server.usPerOp(ops), client_cpu_us_per_op: client.usPerOp(ops) }),
  };
}

function withCpu(name: string, load: LoadResult, cpu: ReturnType<typeof cpuWindows>): BenchResult {
  return { ...toBenchResult(name, load), ...cpu.extras(load.ops) };
}

/** uWS WebSocket echo with msgpackr unpack + pack: 50 connections x 32 in flight, 320-byte frames. */
export async function ceilingUwsWsEcho(servers: CeilingServers, timing: LoadTiming): Promise<BenchResult> {
  const frameFor = makeMsgpackCheckFrames();
  const cpu = cpuWindows(servers.pid);
  const load = await runWsLoad({
    ...cpu.timing(timing),
    url: `ws://127.0.0.1:${servers.wsPort}/echo`,
    connections: ws_connections,
    inflight: ws_inflight_per_connection,
    makeFrame: (_conn, seq) => frameFor(seq),
    replySeq: msgpackReplySeq,
  });
  return { ...withCpu(CEILING.uwsWsEcho, load, cpu), msgpackr_native: servers.msgpackrNative };
}

/** uWS HTTP POST echoing a 320-byte JSON body (parse + stringify): autocannon, 50 connections. */
export async function ceilingUwsHttp(servers: CeilingServers, timing: LoadTiming): Promise<BenchResult> {
  const cpu = cpuWindows(servers.pid);
  const load = await runHttpLoad({
    ...cpu.timing(timing),
    url: `http://127.0.0.1:${servers.httpPort}/echo`,
    connections: http_connections,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: makeJsonCheckBody(),
  });
  return withCpu(CEILING.uwsHttp, load, cpu);
}

async function connectEchoClient(servers: CeilingServers): Promise<InstanceType<ReturnType<typeof loadEchoService>['Client']>> {
  const { Client } = loadEchoService();
  const client = new Client(`127.0.0.1:${servers.grpcPort}`, grpc.credentials.createInsecure());
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + grpc_connect_timeout_ms, (error) => (error ? reject(error) : resolve())));
  return client;
}

/** grpc-js unary echo, 50 calls in flight on one channel. */
export async function ceilingGrpcUnaryEcho(servers: CeilingServers, timing: LoadTiming): Promise<BenchResult> {
  const client = await connectEchoClient(servers);
  const payload = makeGrpcPayload();
  const cpu = cpuWindows(servers.pid);
  try {
    const load = await runGrpcUnaryLoad<EchoMsg>({
      ...cpu.timing(timing),
      call: (request) => new Promise((resolve, reject) =>
        client.Unary(request, (error, reply) => (error ? reject(error) : resolve(reply)))),
      makeRequest: (i) => ({ id: i, payload }),
      concurrency: grpc_unary_concurrency,
    });
    return withCpu(CEILING.grpcUnaryEcho, load, cpu);
  } finally {
    client.close();
  }
}

/** grpc-js bidirectional stream echo, 4 streams x 64 in flight. */
export async function ceilingGrpcBidiEcho(servers: CeilingServers, timing: LoadTiming): Promise<BenchResult> {
  const client = await connectEchoClient(servers);
  const payload = makeGrpcPayload();
  const cpu = cpuWindows(servers.pid);
  try {
    const load = await runGrpcStreamLoad<EchoMsg, EchoMsg>({
      ...cpu.timing(timing),
      openStream: () => client.Bidi(),
      makeRequest: (seq) => ({ id: seq, payload }),
      replySeq: (reply) => Number(reply.id),
      streams: grpc_bidi_streams,
      inflight: grpc_bidi_inflight_per_stream,
    });
    return withCpu(CEILING.grpcBidiEcho, load, cpu);
  } finally {
    client.close();
  }
}

/**
 * LMDB durable writes in this process: a fresh env in a temp dir with default
 * options (on Linux overlappingSync, and a put's promise resolves once its commit
 * is flushed to disk), 1,000 async puts of 160-byte values per event turn (lmdb-js
 * commits one turn's puts as one transaction), each batch awaited before the next,
 * then `db.flushed`. ops/s = puts over the time from the first measured batch to
 * the final flush; p50/p99 are of the batch await, not of one put.
 */
export async function ceilingLmdbDurableWrites(timing: LoadTiming, keys: LmdbKeyPattern = 'append'): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kopilka-bench-lmdb-'));
  const db = open<Buffer, number>({ path: join(dir, 'ceiling.mdb') });
  const value = Buffer.alloc(lmdb_value_bytes, 0x42);
  const latency = new LatencyRecorder();
  const cpu = new CpuWindow(process.pid);
  const pending: Promise<boolean>[] = new Array(lmdb_batch_puts);
  let n = 0;
  let puts = 0;
  try {
    const startedAt = performance.now();
    const measureFrom = startedAt + timing.warmupMs;
    const measureUntil = measureFrom + timing.durationMs;
    let measuredFrom = 0;
    for (;;) {
      const batchStart = performance.now();
      if (batchStart >= measureUntil) break;
      // The measured window opens on a batch boundary, so every counted put was
      // issued inside it and finished before its end (the final flush).
      const measuring = batchStart >= measureFrom;
      if (measuring && measuredFrom === 0) {
        measuredFrom = batchStart;
        cpu.onMeasureStart();
        timing.onMeasureStart?.();
      }
      for (let i = 0; i < lmdb_batch_puts; i++) {
        // Random: a multiplicative hash spreads successive writes over the key space.
        const key = keys === 'append' ? n : (Math.imul(n, 0x9e3779b1) >>> 0) % lmdb_random_key_space_count;
        n += 1;
        pending[i] = db.put(key, value);
      }
      await Promise.all(pending);
      if (measuring) {
        latency.record(performance.now() - batchStart);
        puts += lmdb_batch_puts;
      }
    }
    await db.flushed;
    const elapsedMs = performance.now() - measuredFrom;
    cpu.onMeasureEnd();
    timing.onMeasureEnd?.();
    return toBenchResult(keys === 'append' ? CEILING.lmdbDurableWrites : CEILING.lmdbDurableWritesRandomKeys, {
      ops: puts,
      ops_per_s: measuredFrom > 0 && elapsedMs > 0 ? (puts * 1000) / elapsedMs : 0,
      p50_ms: latency.percentileMs(50),
      p99_ms: latency.percentileMs(99),
      errors: 0,
      batch_puts: lmdb_batch_puts,
      value_bytes: lmdb_value_bytes,
      keys,
      // Main thread plus lmdb-js's write thread, both in this process.
      process_cpu_us_per_op: cpu.usPerOp(puts),
    });
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The ceilings as scenarios for the runner; the servers must be started first. */
export function ceilingScenarios(servers: CeilingServers): Scenario[] {
  return [
    { name: CEILING.uwsWsEcho, run: (timing) => ceilingUwsWsEcho(servers, timing) },
    { name: CEILING.uwsHttp, run: (timing) => ceilingUwsHttp(servers, timing) },
    { name: CEILING.grpcUnaryEcho, run: (timing) => ceilingGrpcUnaryEcho(servers, timing) },
    { name: CEILING.grpcBidiEcho, run: (timing) => ceilingGrpcBidiEcho(servers, timing) },
    { name: CEILING.lmdbDurableWrites, run: (timing) => ceilingLmdbDurableWrites(timing, 'append') },
    { name: CEILING.lmdbDurableWritesRandomKeys, run: (timing) => ceilingLmdbDurableWrites(timing, 'random') },
    { name: CEILING.lmdbCommitPattern, run: (timing) => ceilingLmdbCommitPattern(timing) },
  ];
}
