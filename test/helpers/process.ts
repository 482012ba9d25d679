// kopilka as a real child process (`node dist/main.js`), for restarts and kill -9.

import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { adminDatabase } from './admin-db.js';
import { tempDir } from './engine.js';

const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  http: number;
  grpc: number;
  admin: number;
  terminalKey: string;
  adminToken: string;
  output: () => string;
  exited: Promise<number | null>;
}

export function startProcess(dataDir: string, env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KOPILKA_DATA_DIR: dataDir,
      KOPILKA_HTTP_PORT: '0',
      KOPILKA_GRPC_PORT: '0',
      KOPILKA_ADMIN_PORT: '0',
      KOPILKA_READY_JSON: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kopilka did not start:\n${out}`)), 45_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /kopilka-ready (\{.*\})/.exec(out);
      if (m) {
        clearTimeout(timer);
        const ready = JSON.parse(m[1]!);
        resolve({ child, ...ready, output: () => out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kopilka exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/**
 * A data folder and an admin database of the test file's own (the demo is seeded
 * with the folder's terminal key), both removed after the file; `env` goes to
 * `startProcess`.
 */
export function processFixture(prefix: string): { dir: string; env: () => Record<string, string> } {
  const tmp = tempDir(prefix);
  let db: Awaited<ReturnType<typeof adminDatabase>> | undefined;
  beforeAll(async () => {
    db = await adminDatabase();
  });
  afterAll(async () => {
    await db?.dispose();
    tmp.remove();
  });
  return { dir: tmp.dir, env: () => ({ DATABASE_URL: db?.databaseUrl ?? '' }) };
}
