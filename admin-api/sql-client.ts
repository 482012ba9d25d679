// The admin API's one door to Postgres: either a server (pg.Pool, when a
// DATABASE_URL is given) or PGlite, real Postgres compiled to WASM and embedded
// in this process, so a fresh machine runs `npm start` without installing a
// server. Both speak the same SQL; callers never learn which one they have.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { pg_connect_timeout_ms, pg_pool_connections_max } from './limits.js';

export interface SqlClient {
  /**
   * Runs one statement with `$1`-style parameters. Without parameters the text
   * may hold several statements (as pg's simple protocol allows); the rows are
   * those of the last one.
   */
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when
   * it throws. Called on the client a transaction hands to `fn`, it joins that
   * transaction (Postgres has no nested transactions).
   */
  transaction<T>(fn: (q: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqlClientOptions {
  /** A Postgres URL; absent → PGlite under `dataDir`. */
  databaseUrl?: string | undefined;
  /** PGlite keeps its files in `<dataDir>/admin-pg`. */
  dataDir: string;
}

export async function openSqlClient(options: SqlClientOptions): Promise<SqlClient> {
  if (options.databaseUrl !== undefined) return openPgPool(options.databaseUrl);
  return openPglite(join(options.dataDir, 'admin-pg'));
}

export async function openPgPool(databaseUrl: string): Promise<SqlClient> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: pg_pool_connections_max,
    connectionTimeoutMillis: pg_connect_timeout_ms,
  });
  // An idle connection dropped by the server must not crash the process: the
  // pool discards it and the next query opens another.
  pool.on('error', () => {});
  // Fail at start-up, not at the first request, when the URL is wrong.
  try {
    await pool.query('select 1');
  } catch (err) {
    await pool.end();
    throw err;
  }
  let closed = false;
  return {
    query: (text, params) => pgQuery(pool, text, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('begin');
        const result = await fn(joinedTransaction(client));
        await client.query('commit');
        return result;
      } catch (err) {
        // A connection that cannot even roll back is not handed to anyone else.
        await client.query('rollback').catch(() => { broken = true; });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

function joinedTransaction(client: pg.PoolClient): SqlClient {
  const self: SqlClient = {
    query: (text, params) => pgQuery(client, text, params),
    transaction: (fn) => fn(self),
    close: async () => {},
  };
  return self;
}

async function pgQuery<T>(
  target: pg.Pool | pg.PoolClient,
  text: string,
  params?: unknown[],
): Promise<{ rows: T[] }> {
  const result = (await target.query(text, params)) as pg.QueryResult | pg.QueryResult[];
  // pg answers a multi-statement text with one result per statement.
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return { rows: (last?.rows ?? []) as T[] };
}

export async function openPglite(dir: string): Promise<SqlClient> {
  await mkdir(dir, { recursive: true });
  const db = new PGlite(dir);
  await db.waitReady;
  // PGlite is one connection: two interleaved transactions would be one. They
  // take turns here; PGlite itself also holds plain queries back while a
  // transaction is open, so a reader never sees half of a change.
  let turn: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    query: (text, params) => pgliteQuery(db, text, params),
    transaction<T>(fn: (q: SqlClient) => Promise<T>): Promise<T> {
      const run = turn.then(() => db.transaction((tx) => fn(pgliteTransaction(tx))));
      turn = run.catch(() => {});
      return run;
    },
    async close() {
      if (closed) return;
      closed = true;
      await turn;
      await db.close();
    },
  };
}

function pgliteTransaction(tx: Transaction): SqlClient {
  const self: SqlClient = {
    query: (text, params) => pgliteQuery(tx, text, params),
    transaction: (fn) => fn(self),
    close: async () => {},
  };
  return self;
}

async function pgliteQuery<T>(
  target: PGlite | Transaction,
  text: string,
  params?: unknown[],
): Promise<{ rows: T[] }> {
  // PGlite's query() is the extended protocol, one statement only; exec() is
  // the simple protocol, which is what pg uses when there are no parameters.
  if (params === undefined || params.length === 0) {
    const results = await target.exec(text);
    return { rows: (results[results.length - 1]?.rows ?? []) as T[] };
  }
  const result = await target.query<T>(text, params);
  return { rows: result.rows };
}
