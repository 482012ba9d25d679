// What the admin API tests share: a fresh store on the backend this run uses
// (real Postgres when DATABASE_URL is set, PGlite in a temp dir otherwise), a
// started server on an ephemeral port, and a small fetch wrapper.

import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { startAdminApi, type AdminApi, type AdminApiOptions } from '../../dist/admin-api/index.js';
import { adminDatabase } from '../helpers/admin-db.js';

export const backend = process.env.DATABASE_URL ? 'postgres' : 'pglite';
/** PGlite's first open of a directory runs initdb: about 5 s, more on a busy machine. */
export const open_timeout_ms = 60_000;
export const test_timeout_ms = 30_000;
export const admin_token = 'test-admin-token-0123456789';
export const demo_terminal_key = 'demo-terminal-key';

export interface TestStore {
  databaseUrl: string | undefined;
  dataDir: string;
  dispose(): Promise<void>;
}

/**
 * An empty database. With PGlite, a copy of an initialized empty cluster, as
 * Postgres's CREATE DATABASE copies template1: initdb costs ~5 s, a copy ~1 s.
 * `initdb: true` starts from an empty directory instead, the path a fresh
 * install takes.
 */
export async function freshStore(options: { initdb?: boolean } = {}): Promise<TestStore> {
  const db = await adminDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'kopilka-admin-'));
  if (db.databaseUrl === undefined && options.initdb !== true) {
    await cp(await pgliteTemplate(), join(dataDir, 'admin-pg'), { recursive: true });
  }
  return {
    databaseUrl: db.databaseUrl,
    dataDir,
    async dispose() {
      await db.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function startOn(store: TestStore, options: Partial<AdminApiOptions> = {}): Promise<AdminApi> {
  return startAdminApi({
    ...(store.databaseUrl === undefined ? {} : { databaseUrl: store.databaseUrl }),
    dataDir: store.dataDir,
    port: 0,
    adminToken: admin_token,
    demoTerminalKey: demo_terminal_key,
    ...options,
  });
}

export interface CallOptions {
  body?: unknown;
  /** Sent as is, not JSON-encoded. */
  rawBody?: string;
  headers?: Record<string, string>;
  /** null sends no Authorization header. */
  token?: string | null;
}

export interface CallResult {
  status: number;
  headers: Headers;
  /** The parsed JSON answer, undefined when empty; loosely typed, the tests check it. */
  body: any;
}

export async function call(api: AdminApi, method: string, path: string, options: CallOptions = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? admin_token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${api.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

/** Built once per PGlite version and kept in the temp dir across runs. */
async function pgliteTemplate(): Promise<string> {
  const pkg = new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url);
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  const template = join(tmpdir(), `kopilka-admin-pglite-template-${version}`);
  if (existsSync(template)) return template;
  const building = await mkdtemp(join(tmpdir(), 'kopilka-admin-pglite-building-'));
  const db = new PGlite(building);
  await db.waitReady;
  await db.close();
  // Renamed into place whole, so a template that exists is complete; when a
  // parallel worker got there first, its copy is as good as ours.
  await rename(building, template).catch(() => rm(building, { recursive: true, force: true }));
  return template;
}
