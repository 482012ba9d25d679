// The ledger's rows: a durable commit that accrues, spends and posts a hold,
// compared with the spine's plain commit of the same run (the holds are placed
// before the measured window, as a terminal places one when the guest asks to pay
// with points); and the audit (`npm run verify`) over a journal of many postings,
// with the bytes LMDB spends per check and per guest.

import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoSnapshot } from '../engine/demo-config.js';
import { GuestActor } from '../engine/guest-actor.js';
import { emptyAccount } from '../engine/points-account.js';
import { openStore, type Store } from '../engine/store.js';
import { verifyStore } from '../engine/verify.js';
import type { BenchResult } from './stats.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Points each ledger operation holds and spends (hundredths). */
export const ledger_spend_points = 500;

/** Connections and requests in flight on each while holds are placed. */
const place_connections = 8;
const place_inflight = 64;

/**
 * Sends `count` requests (`frame(i)`: op and body) over `place_connections`
 * connections, `place_inflight` in flight on each, and hands each answer to
 * `answered(i, answer)`, which throws to fail the whole run.
 */
async function sendAll(
  url: string,
  headers: Record<string, string>,
  count: number,
  frame: (i: number) => { op: string; body: unknown },
  answered: (i: number, answer: { result?: Record<string, unknown>; error?: { code: string } }) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  if (count === 0) return;
  const sockets = await Promise.all(
    Array.from({ length: place_connections }, () => new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const send = (ws: WebSocket): void => {
        if (next >= count) return;
        const i = next++;
        ws.send(packr.pack({ id: i + 1, ...frame(i) }));
      };
      for (const ws of sockets) {
        ws.on('message', (data: Buffer) => {
          const r = packr.unpack(data) as { id: number; result?: Record<string, unknown>; error?: { code: string } };
          try {
            answered(r.id - 1, r);
          } catch (err) {
            return reject(err);
          }
          done++;
          if (done === count) resolve();
          else send(ws);
        });
        ws.once('error', reject);
        for (let j = 0; j < place_inflight; j++) send(ws);
      }
    });
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}

/**
 * Places `count` holds (evaluate with `hold: true`) and returns their ids by index;
 * the body of hold `i` comes from `evaluateBody(i)`.
 */
export async function placeHolds(url: string, headers: Record<string, string>, count: number, evaluateBody: (i: number) => unknown): Promise<string[]> {
  const holds = new Array<string>(count);
  await sendAll(url, headers, count, (i) => ({ op: 'evaluate', body: evaluateBody(i) }), (i, r) => {
    const holdId = r.result?.holdId;
    if (typeof holdId !== 'string' || holdId === '') throw new Error(`placing hold ${i} failed: ${JSON.stringify(r.error ?? r.result)}`);
    holds[i] = holdId;
  });
  return holds;
}

/**
 * Cancels `holds` (those a row placed and did not post), so that no open hold of
 * one row weighs on the guests' states the rows after it read. Posted holds answer
 * `hold_already_resolved` and change nothing.
 */
export async function cancelHolds(url: string, headers: Record<string, string>, outlet: string, holds: readonly string[]): Promise<void> {
  await sendAll(url, headers, holds.length, (i) => ({ op: 'cancel', body: { outlet, holdId: holds[i] } }), (i, r) => {
    const outcome = r.result?.outcome;
    if (outcome !== 'ok' && outcome !== 'hold_already_resolved') throw new Error(`cancelling hold ${holds[i]} failed: ${JSON.stringify(r.error ?? r.result)}`);
  });
}

/** Guests and checks of the audit row; the full run reaches 1,000,000 postings. */
function auditSize(quick: boolean): { guests: number; checks: number } {
  return quick ? { guests: 10_000, checks: 100_000 } : { guests: 20_000, checks: 500_000 };
}

const checks_per_transaction = 10_000;

/** Fills a fresh store with checks that each spend and accrue (two postings), by the actor itself. */
export function fillJournal(store: Store, guests: number, checks: number): void {
  const config = demoSnapshot('audit');
  const actor = new GuestActor(store, 0, config);
  const time = new Date().toISOString();
  store.root.transactionSync(() => {
    for (let g = 1; g <= guests; g++) {
      store.guests.putSync(`0-${g}`, { id: `0-${g}`, name: '', phone: '', cards: [], createdAt: time });
      store.states.putSync(`0-${g}`, { seq: 0, lastTx: 0, holdSeq: 0, points: emptyAccount() });
    }
  });
  for (let from = 0; from < checks; from += checks_per_transaction) {
    store.root.transactionSync(() => {
      for (let i = from; i < Math.min(checks, from + checks_per_transaction); i++) {
        const guestId = `0-${(i % guests) + 1}`;
        // The first check of a guest only accrues; later ones spend 1.00 and accrue.
        const spend = i < guests ? 0 : 100;
        actor.commitInTransaction(guestId, {
          outlet: 'outlet-1', idempotencyKey: `a${i}`, time, currency: 'RUB', card: '',
          lines: [{ itemCode: 'x', quantity: 1, unitPrice: 10_000 }], pointsSpent: spend,
        });
      }
    });
  }
}

function bytesOf(store: Store, names: Array<keyof Store>): number {
  let bytes = 0;
  for (const name of names) {
    const s = (store[name] as { getStats(): Record<string, number> }).getStats();
    bytes += s.pageSize! * (s.treeBranchPageCount! + s.treeLeafPageCount! + s.overflowPages!);
  }
  return bytes;
}

export async function auditRow(quick: boolean): Promise<BenchResult> {
  const { guests, checks } = auditSize(quick);
  const dir = mkdtempSync(join(tmpdir(), 'kopilka-audit-'));
  const store = openStore(dir);
  try {
    const filled = performance.now();
    fillJournal(store, guests, checks);
    const fillMs = performance.now() - filled;
    const started = performance.now();
    const report = verifyStore(store);
    const ms = performance.now() - started;
    if (report.differences.length > 0) throw new Error(`verify found ${report.differences.length} differences, first: ${report.differences[0]!.what}`);
    return {
      name: 'verify',
      ops_per_s: report.postings / (ms / 1000),
      p50_ms: ms,
      p99_ms: ms,
      postings: report.postings,
      entries: report.entries,
      verify_s: ms / 1000,
      fill_checks_per_s: checks / (fillMs / 1000),
      bytes_per_check: bytesOf(store, ['transactions', 'idempotency', 'checks']) / checks,
      bytes_per_guest: bytesOf(store, ['guests', 'states', 'cards']) / guests,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
