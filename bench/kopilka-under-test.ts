// kopilka as the benchmark drives it: `node dist/main.js` in a child process (as
// in production; the load generator does not share its event loop) on a fresh data
// folder preloaded with guests, started once and shared by every kopilka row.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedGuests } from './seed-guests.js';
import { withTimeout } from './with-timeout.js';

export const bench_terminal_key = 'bench-terminal-key';
export const bench_admin_token = 'bench-admin-token';
/** Guests preloaded: the floor, so state is not all in a warm cache. */
export const bench_guests_count = 100_000;
const bench_shards = 4;
/** Points every preloaded guest starts with (hundredths): enough for the spending rows. */
const bench_starting_points = 1_000_000;
const kopilka_ready_timeout_ms = 60_000;

export interface KopilkaUnderTest {
  pid: number;
  http: number;
  grpc: number;
  /** The admin API's port (embedded). */
  admin: number;
  guests: number;
  /** Prometheus text of /metrics. */
  metrics(): Promise<string>;
}

let running: { k: KopilkaUnderTest; child: ChildProcess; dir: string } | undefined;
let starting: Promise<KopilkaUnderTest> | undefined;

export function kopilkaUnderTest(): Promise<KopilkaUnderTest> {
  starting ??= start();
  return starting;
}

async function start(): Promise<KopilkaUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), 'kopilka-bench-'));
  const seeded = performance.now();
  await seedGuests(dir, bench_guests_count, bench_shards, bench_starting_points);
  process.stderr.write(`bench: seeded ${bench_guests_count} guests in ${Math.round(performance.now() - seeded)} ms\n`);
  writeFileSync(join(dir, 'demo-secrets.json'), JSON.stringify({ terminalKey: bench_terminal_key, adminToken: bench_admin_token }));
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  // KOPILKA_BENCH_NODE_ARGS passes flags to kopilka's node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.KOPILKA_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, main], {
    env: {
      ...process.env,
      KOPILKA_DATA_DIR: dir,
      KOPILKA_HTTP_PORT: '0',
      KOPILKA_GRPC_PORT: '0',
      KOPILKA_ADMIN_PORT: '0',
      KOPILKA_READY_JSON: '1',
      // The embedded admin store, so the run needs nothing else installed.
      DATABASE_URL: '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ports = await withTimeout(
    new Promise<{ http: number; grpc: number; admin: number }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /kopilka-ready (\{.*\})/.exec(out);
        if (m) resolve(JSON.parse(m[1]!));
      });
      child.once('exit', (code) => reject(new Error(`kopilka exited with ${code} before it was ready`)));
    }),
    kopilka_ready_timeout_ms,
    'kopilka start',
  );
  const k: KopilkaUnderTest = {
    pid: child.pid!,
    http: ports.http,
    grpc: ports.grpc,
    admin: ports.admin,
    guests: bench_guests_count,
    metrics: async () => (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text(),
  };
  running = { k, child, dir };
  return k;
}

export async function stopKopilkaUnderTest(): Promise<void> {
  if (running === undefined) return;
  const { child, dir } = running;
  running = undefined;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await withTimeout(exited, 15_000, 'kopilka stop').catch(() => child.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
}
