// Schema migrations: two runs at once (two processes starting together) apply
// each migration once, a later run applies nothing, and a failed transaction
// leaves no trace.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations, openSqlClient, runMigrations, type SqlClient } from '../../dist/admin-api/index.js';
import { backend, freshStore, open_timeout_ms, test_timeout_ms, type TestStore } from './admin-harness.js';

const ids = migrations.map((m) => m.id);

describe(`migrations (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let first: SqlClient;
  let second: SqlClient;

  beforeAll(async () => {
    // From an empty directory: the path `npm start` takes on a fresh machine.
    store = await freshStore({ initdb: true });
    const options = { databaseUrl: store.databaseUrl, dataDir: store.dataDir };
    first = await openSqlClient(options);
    // Two pools on a server stand for two processes; PGlite is one connection
    // per directory, so there the race is between two runs on one client.
    second = backend === 'postgres' ? await openSqlClient(options) : first;
  }, open_timeout_ms);

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await store?.dispose();
  });

  it('applies each migration once when two runs race, then nothing', async () => {
    const [a, b] = await Promise.all([runMigrations(first), runMigrations(second)]);
    expect([...a, ...b].sort()).toEqual([...ids].sort());
    expect(await runMigrations(first)).toEqual([]);
    expect(await runMigrations(second)).toEqual([]);
    const applied = await first.query<{ id: string }>('select id from schema_migrations order by id');
    expect(applied.rows.map((r) => r.id)).toEqual(ids);
    const tables = await first.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public'`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['config_versions', 'organizations', 'outlets', 'programs', 'schema_migrations', 'terminals']),
    );
  });

  it('rolls a failing transaction back', async () => {
    await expect(
      first.transaction(async (q) => {
        await q.query(`insert into organizations (id, name, currency, time_zone) values ('x', 'X', 'RUB', 'UTC')`);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect((await first.query('select id from organizations')).rows).toEqual([]);
  });

  it('runs several statements in one parameterless query, answering the last', async () => {
    const { rows } = await first.query<{ b: number }>('select 1 as a; select 2 as b');
    expect(rows).toEqual([{ b: 2 }]);
  });
});
