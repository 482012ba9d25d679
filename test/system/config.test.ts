// A configuration change is taken without restart, atomically: every answer names
// the version it used and its numbers are exactly that version's. When the admin
// API is gone, the engine keeps serving the last version it had, across restarts.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKopilka, type Kopilka } from '../../dist/kopilka.js';
import { adminDatabase } from '../helpers/admin-db.js';
import { CHECK_TIME, tempDir } from '../helpers/engine.js';
import { WsClient } from '../helpers/ws-client.js';

const KEY = 'config-test-terminal-key';
const TOKEN = 'config-test-admin-token';
const OUTLET = 'outlet-1';
const tmp = tempDir('kopilka-config-');
let db: Awaited<ReturnType<typeof adminDatabase>>;
let k: Kopilka;

beforeAll(async () => {
  db = await adminDatabase();
  k = await startKopilka({ dataDir: tmp.dir, adminToken: TOKEN, demoTerminalKey: KEY, databaseUrl: db.databaseUrl, configPollMs: 100 });
});
afterAll(async () => {
  await k.stop();
  await db.dispose();
  tmp.remove();
});

async function putProgram(accrualBp: number): Promise<number> {
  const res = await fetch(`${k.adminUrl}/v1/program`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-kopilka-author': 'test' },
    body: JSON.stringify({ accrualBp, payMaxBp: 5000, pointValueMinor: 100 }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { version: number }).version;
}

const check = (card: string) => ({
  outlet: OUTLET, card, time: CHECK_TIME, currency: 'RUB',
  lines: [{ itemCode: 'latte', quantity: 3, unitPrice: 12_345 }],
});

describe('configuration', () => {
  it('swaps a new version atomically under load', async () => {
    expect(k.engine.config?.version).toBe(1);
    const clients = await Promise.all(Array.from({ length: 4 }, () => WsClient.connect(k.ports.http, KEY)));
    const cards = Array.from({ length: 8 }, (_, i) => `CFG-${i}`);
    for (const card of cards) await clients[0]!.request('register', { outlet: OUTLET, card });

    const rateOf = new Map<number, number>([[1, 500]]);
    const seen: Array<{ card: string; version: number; accrue: number }> = [];
    let stop = false;
    const load = clients.map(async (c, i) => {
      while (!stop) {
        const replies = await Promise.all(cards.slice(i * 2, i * 2 + 2).flatMap((card) => [c.request('evaluate', check(card)), c.request('evaluate', check(card))]));
        for (const r of replies) seen.push({ card: r.result.guestId, version: r.result.configVersion, accrue: r.result.accrue });
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    rateOf.set(await putProgram(700), 700);
    await new Promise((r) => setTimeout(r, 200));
    rateOf.set(await putProgram(900), 900);
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(load);

    const total = 3 * 12_345;
    for (const s of seen) {
      const rate = rateOf.get(s.version);
      expect(rate, `version ${s.version}`).toBeDefined();
      expect(s.accrue).toBe(Math.floor((total * rate!) / 10_000));
    }
    expect(new Set(seen.map((s) => s.version))).toEqual(new Set([1, 2, 3]));
    // One guest's answers never go back to an older version.
    const last = new Map<string, number>();
    for (const s of seen) {
      expect(s.version).toBeGreaterThanOrEqual(last.get(s.card) ?? 0);
      last.set(s.card, s.version);
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  it('keeps serving the last version when the admin API is down, across a restart', async () => {
    await k.stop();
    // No admin API answers at this address.
    k = await startKopilka({ dataDir: tmp.dir, adminToken: TOKEN, adminUrl: 'http://127.0.0.1:9', configPollMs: 100 });
    expect(k.engine.config?.version).toBe(3);
    const c = await WsClient.connect(k.ports.http, KEY);
    const r = await c.request('evaluate', check('CFG-0'));
    expect(r.result.configVersion).toBe(3);
    expect(r.result.accrue).toBe(Math.floor((3 * 12_345 * 900) / 10_000));
    await c.close();
  });
});
