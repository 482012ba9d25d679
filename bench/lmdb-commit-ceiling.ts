// The storage ceiling of a durable commit: what LMDB on this machine's disk does
// when each operation writes what a kopilka commit writes, with nothing of kopilka
// around it. Per operation: a guest's state read and rewritten (one of 100,000: a
// random B-tree page), an idempotency record under a per-connection increasing key,
// a journal entry and a check's progress appended. Operations run in write
// transactions of `batch_ops`, up to `transactions_in_flight` queued at once (as the
// shards queue theirs), each acknowledged once flushed to disk — the same group
// commit the engine uses. Group commit gains with depth (more commits share one
// fsync: on this machine 16,000/s at 512 in flight, 25,000/s at 2,048), so the depth
// is commit.ws's own: its 50 connections with 32 commits in flight each. ops/s here
// is the most durable commits per second the disk lets any design with this write
// set reach at that depth; commit.ws is judged beside it.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { open } from 'lmdb';
import type { LoadTiming } from './measure-window.js';
import { CpuWindow } from './process-cpu.js';
import { LatencyRecorder, toBenchResult, type BenchResult } from './stats.js';

export const lmdb_commit_pattern_row = 'ceiling.lmdb_commit_pattern';

const guests_count = 100_000;
/** As commit.ws: 50 connections (transactions in flight) with 32 commits each. */
const batch_ops = 32;
const transactions_in_flight = 50;
/** Idempotency keys increase per connection, as a terminal's do: this many connections. */
const connections = 50;

// Values about the size of the engine's records (bytes/check ~1 KB in all).
const state = { seq: 12, lastTx: 4_000, holdSeq: 3, points: { balance: 1_000_000, lots: [{ n: 17, remaining: 1_000_000, activatesAt: 0, expiresAt: 0 }], holds: [] } };
const idempotency = { card: 'bench-card-0000042', time: '2026-11-24T12:30:00+03:00', currency: 'RUB', lines: 'SKU-100231\u0001grocery\u00012\u000112990\u0002'.repeat(3), pointsSpent: 0, holdId: '', result: { outcome: 'ok', transactionId: '2-4211.4000', guestId: '2-4211', configVersion: 1, total: 109_950, spent: 0, accrued: 5_497, balance: 1_005_497, discount: 0, promotions: [], depositPaid: 0, depositBalance: 0 } };
const journal = { kind: 'check', time: '2026-11-24T12:30:00+03:00', outlet: 'outlet-1', idempotencyKey: 'bench-xyz-commit.ws-123456', total: 109_950, spent: 0, accrued: 5_497, postings: [['liability', 'g:2-4211', 5_497]], lines: [{ itemCode: 'SKU-100231', category: 'grocery', quantity: 2, unitPrice: 12_990 }, { itemCode: 'SKU-100877', category: 'dairy', quantity: 1, unitPrice: 54_990 }, { itemCode: 'SKU-203311', category: 'bakery', quantity: 3, unitPrice: 9_990 }], taken: [], guestId: '2-4211', prevTx: 3_990, transactionId: '2-4211.4000', balanceAfter: 1_005_497, configVersion: 1, at: 1_764_000_000_000 };
const progress = { guestId: '2-4211', n: 4_000, status: 'committed', returned: 0, returnedQty: [0, 0, 0], accrualReversed: 0, spentRestored: 0 };

export async function ceilingLmdbCommitPattern(timing: LoadTiming): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kopilka-bench-commit-pattern-'));
  const plain = { encoder: { useRecords: false, mapsAsObjects: true } };
  const root = open({ path: dir, compression: false, ...plain });
  const states = root.openDB<unknown, string>({ name: 'states', ...plain });
  const keys = root.openDB<unknown, [number, number]>({ name: 'idempotency', ...plain });
  const entries = root.openDB<unknown, number>({ name: 'journal', ...plain });
  const checks = root.openDB<unknown, number>({ name: 'checks', ...plain });
  const latency = new LatencyRecorder();
  const cpu = new CpuWindow(process.pid);
  try {
    root.transactionSync(() => {
      for (let g = 0; g < guests_count; g++) states.putSync(`${g % 4}-${g}`, state);
    });
    let n = 0;
    let rnd = 0x9e3779b1;
    const nextGuest = (): string => {
      // xorshift: a fixed, spread walk over the guests.
      rnd ^= rnd << 13;
      rnd ^= rnd >>> 17;
      rnd ^= rnd << 5;
      const g = (rnd >>> 0) % guests_count;
      return `${g % 4}-${g}`;
    };
    const startedAt = performance.now();
    const measureFrom = startedAt + timing.warmupMs;
    const measureUntil = measureFrom + timing.durationMs;
    let measuredFrom = 0;
    let ops = 0;
    let lastFlushedAt = 0;
    const transaction = async (): Promise<void> => {
      const begun = performance.now();
      const measuring = begun >= measureFrom && begun < measureUntil;
      if (measuring && measuredFrom === 0) {
        measuredFrom = begun;
        cpu.onMeasureStart();
        timing.onMeasureStart?.();
      }
      await root.transaction(() => {
        for (let i = 0; i < batch_ops; i++) {
          const guest = nextGuest();
          states.get(guest);
          states.putSync(guest, state);
          n++;
          keys.putSync([n % connections, n], idempotency);
          entries.putSync(n, journal);
          checks.putSync(n, progress);
        }
      });
      await root.flushed;
      if (measuring) {
        ops += batch_ops;
        latency.record(performance.now() - begun);
        lastFlushedAt = performance.now();
      }
    };
    const lane = async (): Promise<void> => {
      while (performance.now() < measureUntil) await transaction();
    };
    await Promise.all(Array.from({ length: transactions_in_flight }, lane));
    cpu.onMeasureEnd();
    timing.onMeasureEnd?.();
    const elapsedMs = lastFlushedAt - measuredFrom;
    return toBenchResult(lmdb_commit_pattern_row, {
      ops,
      ops_per_s: measuredFrom > 0 && elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
      p50_ms: latency.percentileMs(50),
      p99_ms: latency.percentileMs(99),
      errors: 0,
      batch_ops,
      transactions_in_flight,
      guests: guests_count,
      // Main thread plus lmdb-js's write thread, both in this process.
      process_cpu_us_per_op: cpu.usPerOp(ops),
    });
  } finally {
    await root.close();
    await rm(dir, { recursive: true, force: true });
  }
}
