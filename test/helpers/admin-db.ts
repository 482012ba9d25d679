// A fresh Postgres database per test file, when the machine has a server
// (DATABASE_URL set); otherwise undefined, and the caller runs PGlite in a temp
// dir. Each test gets an empty database: no test sees another's rows.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface AdminDatabase {
  /** A URL to the fresh database, or undefined when no server is configured. */
  databaseUrl: string | undefined;
  /** Drops the database, closing whatever connections are still open on it. */
  dispose(): Promise<void>;
}

export async function adminDatabase(): Promise<AdminDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') return { databaseUrl: undefined, dispose: async () => {} };
  // A random name: test files run in parallel against one server.
  const name = `kopilka_t_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, `create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let disposed = false;
  return {
    databaseUrl: url.toString(),
    async dispose() {
      if (disposed) return;
      disposed = true;
      await onServer(serverUrl, `drop database if exists ${name} with (force)`);
    },
  };
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
