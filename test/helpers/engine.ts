// A real engine on a real LMDB folder in a temp dir, configured with the demo
// snapshot plus a second outlet and terminal (for cross-outlet refusals).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../dist/engine/index.js';
import { demoSnapshot, sha256Hex } from '../../dist/engine/demo-config.js';
import type { ConfigSnapshot } from '../../dist/protocol/config.js';
import { openStore, type Store } from '../../dist/engine/store.js';
import { validateRequest } from '../../dist/protocol/validate.js';

export const TERMINAL_KEY = 'test-terminal-key-outlet-1';
export const OTHER_TERMINAL_KEY = 'test-terminal-key-outlet-2';
export const OUTLET = 'outlet-1';
export const OTHER_OUTLET = 'outlet-2';

export function testSnapshot(version = 1, program?: ConfigSnapshot['program']): ConfigSnapshot {
  const s = demoSnapshot(TERMINAL_KEY, version, program);
  s.outlets.push({ id: OTHER_OUTLET, name: 'Second outlet' });
  s.terminals.push({ id: 'terminal-2', outletId: OTHER_OUTLET, keySha256: sha256Hex(OTHER_TERMINAL_KEY) });
  return s;
}

export function tempDir(prefix = 'kopilka-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startEngine(opts: { dataDir?: string; shards?: number; threads?: number } = {}) {
  const tmp = opts.dataDir === undefined ? tempDir() : undefined;
  const dataDir = opts.dataDir ?? tmp!.dir;
  const engine = Engine.open({ dataDir, shards: opts.shards ?? 4, threads: opts.threads ?? 2 });
  if (engine.config === undefined) engine.applyConfig(testSnapshot());
  return {
    engine,
    dataDir,
    async close() {
      await engine.drain(5000);
      await engine.close();
      tmp?.remove();
    },
  };
}

/** A check of `n` lines at `price` minor units each. */
export function lines(n = 2, price = 10_000) {
  return Array.from({ length: n }, (_, i) => ({ itemCode: `item-${i}`, category: 'coffee', quantity: 1, unitPrice: price }));
}

export const CHECK_TIME = '2026-11-24T12:30:00+03:00';

/**
 * Stops the engine, then opens its data folder as `npm run verify` does and hands
 * the store to `audit` (which asserts what it wants), closing it afterwards. The
 * folder stays: `t.close()` removes it (it tolerates the engine already closed).
 */
export async function auditAfterClose(t: Awaited<ReturnType<typeof startEngine>>, audit: (store: Store) => void | Promise<void>): Promise<void> {
  await t.engine.drain(5000);
  await t.engine.close();
  const store = openStore(t.dataDir);
  try {
    await audit(store);
  } finally {
    await store.close();
  }
}

export type Body = Record<string, unknown>;

/**
 * Requests as a door sends them to `engine()`: validated (the outlet added), then
 * executed; and `refusal`, the coded error of a request expected to fail.
 */
export function doorCalls(engine: () => Engine) {
  const run = (op: string, body: Body): Promise<any> => {
    try {
      return engine().execute(op as any, validateRequest(op, { outlet: OUTLET, ...body }) as any);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const refusal = async (op: string, body: Body): Promise<{ code: string; field?: string; message: string }> => {
    try {
      const r = await run(op, body);
      throw new Error(`expected ${op} to be refused, got ${JSON.stringify(r)}`);
    } catch (err: any) {
      if (err.code === undefined) throw err;
      return { code: err.code, field: err.field, message: err.message };
    }
  };
  return { run, refusal };
}
