// The demo seed: what it creates, that it publishes version 1, and that a
// second seed (or two at once) changes nothing.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlClient, runMigrations, seedDemo, type SqlClient } from '../../dist/admin-api/index.js';
import { backend, freshStore, open_timeout_ms, test_timeout_ms, type TestStore } from './admin-harness.js';

describe(`seedDemo (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let sql: SqlClient;

  beforeAll(async () => {
    store = await freshStore();
    sql = await openSqlClient({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
    await runMigrations(sql);
  }, open_timeout_ms);

  afterAll(async () => {
    await sql?.close();
    await store?.dispose();
  });

  it('creates the demo and publishes version 1', async () => {
    const snapshot = await seedDemo(sql, { terminalKey: 'the-key', author: 'installer' });
    expect(snapshot).toMatchObject({
      version: 1,
      author: 'installer',
      organization: { id: 'demo', name: 'Demo Coffee', currency: 'RUB', timeZone: 'Europe/Moscow' },
      outlets: [{ id: 'outlet-1', name: 'Demo Coffee, Tverskaya 1' }],
      terminals: [
        { id: 'terminal-1', outletId: 'outlet-1', keySha256: createHash('sha256').update('the-key').digest('hex') },
      ],
      program: {
        id: 'bonus', name: 'Demo bonus', accrualBp: 500, payMaxBp: 5000, pointValueMinor: 100,
        activationDelayDays: 0, expiryMonths: 0, holdTimeoutSeconds: 900, refundDebtPolicy: 'negative',
      },
    });
    expect(Number.isNaN(Date.parse(snapshot!.publishedAt))).toBe(false);
    const stored = await sql.query<{ version: number; snapshot: unknown; author: string }>(
      'select version, snapshot, author from config_versions',
    );
    expect(stored.rows).toEqual([{ version: 1, snapshot, author: 'installer' }]);
  });

  it('changes nothing the second time, nor when two seeds race', async () => {
    expect(await seedDemo(sql, { terminalKey: 'another-key' })).toBeNull();
    const raced = await Promise.all([seedDemo(sql, { terminalKey: 'k1' }), seedDemo(sql, { terminalKey: 'k2' })]);
    expect(raced).toEqual([null, null]);
    const versions = await sql.query<{ n: number }>('select count(*)::int as n from config_versions');
    expect(versions.rows[0]?.n).toBe(1);
    const terminals = await sql.query<{ key_sha256: string }>('select key_sha256 from terminals');
    expect(terminals.rows).toEqual([{ key_sha256: createHash('sha256').update('the-key').digest('hex') }]);
  });
});

describe(`seedDemo into an empty database, raced (${backend})`, { timeout: test_timeout_ms }, () => {
  it.runIf(backend === 'postgres')('seeds once when two processes start together', async () => {
    const store = await freshStore();
    const a = await openSqlClient({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
    const b = await openSqlClient({ databaseUrl: store.databaseUrl, dataDir: store.dataDir });
    try {
      await Promise.all([runMigrations(a), runMigrations(b)]);
      const seeded = await Promise.all([seedDemo(a, { terminalKey: 'k' }), seedDemo(b, { terminalKey: 'k' })]);
      expect(seeded.filter((s) => s !== null).map((s) => s!.version)).toEqual([1]);
    } finally {
      await a.close();
      await b.close();
      await store.dispose();
    }
  });
});
