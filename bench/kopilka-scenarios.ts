// kopilka's own rows. Each drives the running kopilka (kopilka-under-test.ts,
// 100,000 guests) through one door with the same drivers and message sizes as its
// ceiling, and adds what only kopilka knows: the server-side decision time from
// its /metrics (request decoded → answer encoded), its CPU per operation, and its
// memory after the row.

import * as grpc from '@grpc/grpc-js';
import { Packr } from 'msgpackr';
import { CEILING } from './ceilings.js';
import { isCommitOk, isEvaluateResult, leanKopilkaClientClass, responseId, type LeanKopilkaClient } from './grpc-lean-client.js';
import { runGrpcStreamLoad, runGrpcUnaryLoad } from './grpc-load.js';
import { runHttpLoad } from './http-load.js';
import { bench_admin_token, bench_terminal_key, kopilkaUnderTest, type KopilkaUnderTest } from './kopilka-under-test.js';
import type { LoadTiming } from './measure-window.js';
import { CpuWindow } from './process-cpu.js';
import type { Scenario } from './scenario.js';
import { benchCard } from './seed-guests.js';
import { parseBuckets, percentileMs } from './server-decision-time.js';
import type { BenchResult, LoadResult } from './stats.js';
import { runWsLoad } from './ws-load.js';
import { frameTemplate } from './frame-template.js';
import { auditRow, cancelHolds, ledger_spend_points, placeHolds } from './ledger-scenarios.js';
import { publishRules } from './publish-rules.js';
import { sampleContext8, sampleRules50 } from '../engine/rules/sample.js';

const ws_connections = 50;
const ws_inflight_per_connection = 32;
const http_connections = 50;
const grpc_unary_concurrency = 50;
const grpc_streams = 4;
const grpc_inflight_per_stream = 64;
/** Share of evaluate.ws's throughput at which the decision time is also measured. */
const half_load_share = 0.5;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const OUTLET = 'outlet-1';
const TIME = '2026-11-24T12:30:00+03:00';
/** A 3-line check, about the size of the ceilings' message. */
const LINES = [
  { itemCode: 'SKU-100231', category: 'grocery', quantity: 2, unitPrice: 12_990 },
  { itemCode: 'SKU-100877', category: 'dairy', quantity: 1, unitPrice: 54_990 },
  { itemCode: 'SKU-203311', category: 'bakery', quantity: 3, unitPrice: 9_990 },
];
const runId = Date.now().toString(36);
const keyPrefixOf = (row: string): string => `bench-${runId}-${row}`;

function card(seq: number, guests: number): string {
  // A multiplicative walk spreads consecutive requests over all guests and shards.
  return benchCard((seq * 7919) % guests);
}

/** The 8-line check of the promotions row (engine/rules/sample.ts): a weekday lunch, so periods open. */
const LINES_8 = sampleContext8().check.lines;
const TIME_LUNCH = '2026-03-10T13:30:00+03:00';
const promotionsBody = (c: string) => ({ outlet: OUTLET, time: TIME_LUNCH, currency: 'RUB', card: c, lines: LINES_8, pointsToSpend: 0 });

const evaluateBody = (c: string) => ({ outlet: OUTLET, time: TIME, currency: 'RUB', card: c, lines: LINES, pointsToSpend: 0 });
/** A request's sequence number in an idempotency key: fixed width, so WebSocket frames are patched in place. */
const seq_digits = 10;
// Keys unique per run and per row: rows restart their sequence numbers at 0.
const idempotencyKey = (keyPrefix: string, seq: number): string => `${keyPrefix}-${String(seq).padStart(seq_digits, '0')}`;
const commitBody = (keyPrefix: string, c: string, seq: number) => ({
  outlet: OUTLET, idempotencyKey: idempotencyKey(keyPrefix, seq), time: TIME, currency: 'RUB', card: c, lines: LINES, pointsSpent: 0,
});

// Replies are `{ id, result }` or `{ id, error }` packed as plain maps: map16 of 2
// (msgpackr's choice: de 00 02), "id" (a2 69 64), the id, then "result" or "error".
// Read without decoding it all.
const ID_KEY = Buffer.from([0xde, 0x00, 0x02, 0xa2, 0x69, 0x64]);
const RESULT_KEY = Buffer.from([0xa6, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74]);
// "outcome": "ok" as packed inside the result map (after its 3-byte map16 header).
const OUTCOME_OK = Buffer.from(packr.pack({ outcome: "ok" }).subarray(3));

function idOf(frame: Buffer): { id: number; next: number } {
  const at = ID_KEY.length;
  if (frame.compare(ID_KEY, 0, at, 0, at) !== 0) return { id: -1, next: 0 };
  const tag = frame[at]!;
  if (tag <= 0x7f) return { id: tag, next: at + 1 };
  if (tag === 0xcc) return { id: frame[at + 1]!, next: at + 2 };
  if (tag === 0xcd) return { id: frame.readUInt16BE(at + 1), next: at + 3 };
  if (tag === 0xce) return { id: frame.readUInt32BE(at + 1), next: at + 5 };
  return { id: -1, next: 0 };
}
const replySeq = (frame: Buffer): number => idOf(frame).id;
const isResult = (frame: Buffer): boolean => {
  const { next } = idOf(frame);
  return next > 0 && frame.compare(RESULT_KEY, 0, RESULT_KEY.length, next, next + RESULT_KEY.length) === 0;
};
const isCommitted = (frame: Buffer): boolean => isResult(frame) && frame.indexOf(OUTCOME_OK) > 0;

/** Runs `drive` over kopilka with its CPU and decision-time windows around the measured part. */
async function measured(
  name: string,
  door: string,
  op: string,
  timing: LoadTiming,
  drive: (k: KopilkaUnderTest, timing: LoadTiming) => Promise<LoadResult>,
): Promise<BenchResult> {
  const k = await kopilkaUnderTest();
  const cpu = new CpuWindow(k.pid);
  let before: Promise<string> | undefined;
  let after: Promise<string> | undefined;
  const load = await drive(k, {
    ...timing,
    onMeasureStart: () => {
      cpu.onMeasureStart();
      before = k.metrics();
    },
    onMeasureEnd: () => {
      cpu.onMeasureEnd();
      after = k.metrics();
    },
  });
  const [b, a] = [parseBuckets(await before!, door, op), parseBuckets(await after!, door, op)];
  const memory = memoryOf(await k.metrics());
  return {
    name,
    ...load,
    server_p50_ms: percentileMs(b, a, 50),
    server_p99_ms: percentileMs(b, a, 99),
    server_cpu_us_per_op: cpu.usPerOp(load.ops),
    guests: k.guests,
    ...memory,
  };
}

/** Heap of the doors' thread plus every shard thread, and the process's RSS, in MB. */
function memoryOf(metrics: string): Record<string, number> {
  const value = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? NaN);
  const mainHeap = value(/^kopilka_nodejs_heap_size_used_bytes (\S+)$/m);
  const shardHeaps = value(/^kopilka_shard_heap_used_bytes (\S+)$/m);
  const rss = value(/^kopilka_process_resident_memory_bytes (\S+)$/m);
  return { heap_used_mb: (mainHeap + shardHeaps) / 2 ** 20, rss_mb: rss / 2 ** 20 };
}

let evaluateWsOpsPerS: number | undefined;
/**
 * evaluate.ws.lines8: promotions50's 8-line check before any promotion is published.
 * Beside promotions50 it tells the rules' cost from the cost of the larger check and
 * answer (promotions50 is judged against evaluate.ws, whose check has 3 lines).
 */
const evaluate_ws_lines8 = 'evaluate.ws.lines8';
let sameCheckOpsPerS: number | undefined;
let commitWsOpsPerS: number | undefined;

/** Accrual + spend + hold posting as one operation: evaluate with a hold, then commit it. */
/** Commits the ledger row expects at most per second when commit.ws did not run first. */
const ledger_rate_guess_per_s = 20_000;
/** Holds placed per commit the row expects, so the measured load never runs out of them. */
const ledger_holds_margin = 1.5;

/**
 * A commit that spends points from a hold (posting it), accrues on the money paid
 * and writes its lots: the ledger's full path. The holds are placed first, outside
 * the measured window; each measured commit posts one.
 */
function ledgerScenario(name: string): Scenario['run'] {
  return async (timing) => {
    const k = await kopilkaUnderTest();
    const url = `ws://127.0.0.1:${k.http}/v1/ws`;
    const headers = { authorization: `Bearer ${bench_terminal_key}` };
    const expected = (commitWsOpsPerS ?? ledger_rate_guess_per_s) * ((timing.warmupMs + timing.durationMs) / 1000);
    const count = Math.ceil(expected * ledger_holds_margin);
    const holds = await placeHolds(url, headers, count, (i) => ({ ...evaluateBody(card(i, k.guests)), pointsToSpend: ledger_spend_points, hold: true }));
    const result = await measured(name, 'ws', 'commit', timing, (k, t) =>
      runWsLoad({
        ...t,
        url,
        headers,
        connections: ws_connections,
        inflight: ws_inflight_per_connection,
        // Beyond the holds placed the commit is refused (counted as an error, never as a commit).
        makeFrame: (_conn, seq) =>
          packr.pack({
            id: seq,
            op: 'commit',
            body: { ...commitBody(keyPrefixOf(name), card(seq, k.guests), seq), pointsSpent: ledger_spend_points, holdId: holds[seq] ?? `${card(seq, k.guests)}.h0` },
          }),
        replySeq,
        replyOk: isCommitted,
      }),
    );
    // Not measured: the holds left open would otherwise ride in guests' states through the later rows.
    await cancelHolds(url, headers, OUTLET, holds);
    result.holds_placed = count;
    if (commitWsOpsPerS !== undefined) result.pct_of_commit_ws = (100 * result.ops_per_s) / commitWsOpsPerS;
    return result;
  };
}

/**
 * evaluate.ws with the 50 promotions of engine/rules/sample.ts (10 in CEL) published
 * through the admin API, on an 8-line check. Runs last: from here on every check of
 * the running kopilka meets them.
 */
function promotionsScenario(name: string): Scenario['run'] {
  return async (timing) => {
    const k = await kopilkaUnderTest();
    const version = await publishRules(`http://127.0.0.1:${k.admin}`, bench_admin_token, sampleRules50());
    // The embedded admin API hands each version to the engine as it publishes it.
    const seen = await (await fetch(`http://127.0.0.1:${k.http}/metrics`)).text();
    const running = Number(/^kopilka_config_version (\d+)/m.exec(seen)?.[1] ?? NaN);
    if (running !== version) throw new Error(`kopilka runs configuration ${running}, not the published ${version}`);
    const result = await wsScenario(name, 'evaluate', { body: promotionsBody })(timing);
    if (evaluateWsOpsPerS !== undefined) result.pct_of_evaluate_ws = (100 * result.ops_per_s) / evaluateWsOpsPerS;
    if (sameCheckOpsPerS !== undefined) result.pct_of_same_check_without_promotions = (100 * result.ops_per_s) / sameCheckOpsPerS;
    return result;
  };
}

function wsScenario(name: string, op: 'evaluate' | 'commit', opts: { ratePerS?: () => number; body?: (card: string) => unknown } = {}): Scenario['run'] {
  return (timing) =>
    measured(name, 'ws', op, timing, async (k, t) => {
      // Frames patched in place (frame-template.ts): the card, and a commit's idempotency key.
      if (op === 'commit' && opts.body !== undefined) throw new Error('a commit row builds its own body: its key changes per request');
      const cardWidth = benchCard(0).length;
      const keyPrefix = keyPrefixOf(name);
      const template =
        op === 'evaluate'
          ? frameTemplate((id, [c]) => ({ id, op, body: opts.body?.(c!) ?? evaluateBody(c!) }), [cardWidth])
          : frameTemplate((id, [c, key]) => ({ id, op, body: { ...commitBody(keyPrefix, c!, 0), idempotencyKey: key } }), [cardWidth, idempotencyKey(keyPrefix, 0).length]);
      const load = await runWsLoad({
        ...t,
        url: `ws://127.0.0.1:${k.http}/v1/ws`,
        headers: { authorization: `Bearer ${bench_terminal_key}` },
        connections: ws_connections,
        inflight: ws_inflight_per_connection,
        ratePerS: opts.ratePerS?.(),
        makeFrame: (_conn, seq) =>
          op === 'evaluate' ? template.frame(seq, [card(seq, k.guests)]) : template.frame(seq, [card(seq, k.guests), idempotencyKey(keyPrefix, seq)]),
        replySeq,
        replyOk: op === 'evaluate' ? isResult : isCommitted,
      });
      if (name === 'evaluate.ws') evaluateWsOpsPerS = load.ops_per_s;
      if (name === evaluate_ws_lines8) sameCheckOpsPerS = load.ops_per_s;
      if (name === 'commit.ws') commitWsOpsPerS = load.ops_per_s;
      return load;
    });
}

// The gRPC rows use the lean client of grpc-lean-client.ts: requests encoded as the
// generated client encodes them, replies left undecoded and judged by their id and the
// kind of reply only (plus a commit's outcome), as the WebSocket rows judge theirs: the
// load client shares the cores with the server under test, so work it does per reply
// beyond that is taken from kopilka.
function grpcClient(k: KopilkaUnderTest): LeanKopilkaClient {
  const Kopilka = leanKopilkaClientClass();
  return new Kopilka(`127.0.0.1:${k.grpc}`, grpc.credentials.createInsecure());
}

const metadata = (): grpc.Metadata => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${bench_terminal_key}`);
  return m;
};

function grpcUnaryScenario(name: string): Scenario['run'] {
  return (timing) =>
    measured(name, 'grpc', 'evaluate', timing, async (k, t) => {
      const client = grpcClient(k);
      const md = metadata();
      try {
        return await runGrpcUnaryLoad({
          ...t,
          concurrency: grpc_unary_concurrency,
          makeRequest: (i) => evaluateBody(card(i, k.guests)),
          call: (req) =>
            // A call answered without a gRPC error is a success; its EvaluateResult is not decoded.
            new Promise((resolve, reject) => client.Evaluate(req, md, (err, res) => (err ? reject(err) : resolve(res)))),
        });
      } finally {
        client.close();
      }
    });
}

function grpcStreamScenario(name: string, op: 'evaluate' | 'commit'): Scenario['run'] {
  return (timing) =>
    measured(name, 'grpc_stream', op, timing, async (k, t) => {
      const client = grpcClient(k);
      try {
        return await runGrpcStreamLoad({
          ...t,
          streams: grpc_streams,
          inflight: grpc_inflight_per_stream,
          openStream: () => client.Stream(metadata()),
          makeRequest: (seq) => {
            const c = card(seq, k.guests);
            return op === 'evaluate' ? { id: seq, evaluate: evaluateBody(c) } : { id: seq, commit: commitBody(keyPrefixOf(name), c, seq) };
          },
          // Raw Response bytes: an evaluate succeeds with an EvaluateResult (not an Error), a
          // commit with a CommitResult whose outcome is "ok".
          replySeq: responseId,
          replyOk: op === 'evaluate' ? isEvaluateResult : isCommitOk,
        });
      } finally {
        client.close();
      }
    });
}

function httpScenario(name: string): Scenario['run'] {
  return (timing) =>
    measured(name, 'http', 'evaluate', timing, (k, t) =>
      runHttpLoad({
        ...t,
        url: `http://127.0.0.1:${k.http}/v1/evaluate`,
        connections: http_connections,
        method: 'POST',
        headers: { authorization: `Bearer ${bench_terminal_key}`, 'content-type': 'application/json' },
        body: JSON.stringify(evaluateBody(benchCard(42))),
      }),
    );
}

export const kopilkaScenarios: Scenario[] = [
  { name: 'evaluate.ws', ceiling: CEILING.uwsWsEcho, run: wsScenario('evaluate.ws', 'evaluate') },
  { name: evaluate_ws_lines8, ceiling: CEILING.uwsWsEcho, run: wsScenario(evaluate_ws_lines8, 'evaluate', { body: promotionsBody }) },
  { name: 'commit.ws', ceiling: CEILING.uwsWsEcho, storageBound: true, run: wsScenario('commit.ws', 'commit') },
  { name: 'commit.ws.ledger', ceiling: CEILING.uwsWsEcho, storageBound: true, run: ledgerScenario('commit.ws.ledger') },
  { name: 'evaluate.http', ceiling: CEILING.uwsHttp, run: httpScenario('evaluate.http') },
  { name: 'evaluate.grpc_unary', ceiling: CEILING.grpcUnaryEcho, run: grpcUnaryScenario('evaluate.grpc_unary') },
  { name: 'evaluate.grpc_stream', ceiling: CEILING.grpcBidiEcho, run: grpcStreamScenario('evaluate.grpc_stream', 'evaluate') },
  { name: 'commit.grpc_stream', ceiling: CEILING.grpcBidiEcho, storageBound: true, run: grpcStreamScenario('commit.grpc_stream', 'commit') },
  // The audit over a large journal; quick runs (short rows) audit a smaller one.
  { name: 'verify', run: (timing) => auditRow(timing.durationMs < 5_000) },
  // Latency at half the throughput evaluate.ws reached in this run (open loop).
  {
    name: 'evaluate.ws.half_load',
    run: wsScenario('evaluate.ws.half_load', 'evaluate', {
      ratePerS: () => {
        if (evaluateWsOpsPerS === undefined) throw new Error('evaluate.ws.half_load needs evaluate.ws to run first');
        return evaluateWsOpsPerS * half_load_share;
      },
    }),
  },
  // No ceiling of its own (it is judged against evaluate.ws), so it runs after every row
  // that has one: once its promotions are published, every later check meets them.
  { name: 'evaluate.ws.promotions50', run: promotionsScenario('evaluate.ws.promotions50') },
];
