// `npm start`: kopilka with embedded defaults. Guest state in LMDB and the admin
// store in PGlite, both under ./data (KOPILKA_DATA_DIR moves it; DATABASE_URL
// puts the admin store on a PostgreSQL server), and a demo configuration.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startKopilka } from './kopilka.js';

interface DemoSecrets {
  terminalKey: string;
  adminToken: string;
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

function intEnv(name: string, dflt: number | undefined): number | undefined {
  const v = env(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

/** Secrets made once per data folder, so the demo key survives restarts. */
function demoSecrets(dataDir: string): DemoSecrets {
  const path = join(dataDir, 'demo-secrets.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as DemoSecrets;
  const secrets = { terminalKey: randomBytes(18).toString('base64url'), adminToken: randomBytes(18).toString('base64url') };
  writeFileSync(path, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

async function main(): Promise<void> {
  const dataDir = resolve(env('KOPILKA_DATA_DIR') ?? './data');
  mkdirSync(dataDir, { recursive: true });
  const secrets = demoSecrets(dataDir);
  const host = env('KOPILKA_HOST') ?? '127.0.0.1';
  const adminToken = env('KOPILKA_ADMIN_TOKEN') ?? secrets.adminToken;
  const k = await startKopilka({
    dataDir,
    host,
    httpPort: intEnv('KOPILKA_HTTP_PORT', 8080),
    grpcPort: intEnv('KOPILKA_GRPC_PORT', 50051),
    adminPort: intEnv('KOPILKA_ADMIN_PORT', 8081),
    shards: intEnv('KOPILKA_SHARDS', undefined),
    threads: intEnv('KOPILKA_THREADS', undefined),
    adminToken,
    databaseUrl: env('DATABASE_URL'),
    adminUrl: env('KOPILKA_ADMIN_URL'),
    demoTerminalKey: env('KOPILKA_DEMO') === '0' ? undefined : secrets.terminalKey,
  });
  const http = `http://${host}:${k.ports.http}`;
  const config = k.engine.config;
  console.log(`kopilka is running (configuration version ${config?.version ?? 'none yet'}, ${k.engine.shardCount} shards)
  data          ${dataDir}  (admin store: ${env('DATABASE_URL') ? 'PostgreSQL at DATABASE_URL' : 'PGlite embedded'})
  gRPC          ${host}:${k.ports.grpc}   (protocol/kopilka.proto)
  HTTP          ${http}/v1/<op>   (JSON)
  WebSocket     ws://${host}:${k.ports.http}/v1/ws   (msgpack)
  admin API     ${k.adminUrl}
  metrics       ${http}/metrics
  health        ${http}/healthz
  terminal key  ${secrets.terminalKey}   (demo terminal of outlet-1)
  admin token   ${adminToken}

Try it:
  curl -s -H 'authorization: Bearer ${secrets.terminalKey}' ${http}/v1/register -d '{"outlet":"outlet-1","card":"4000123412341234","name":"Anna"}'
  curl -s -H 'authorization: Bearer ${secrets.terminalKey}' ${http}/v1/evaluate -d '{"outlet":"outlet-1","card":"4000123412341234","time":"2026-11-24T12:30:00+03:00","currency":"RUB","lines":[{"itemCode":"latte","category":"coffee","quantity":2,"unitPrice":25000}]}'
`);
  // For supervisors and tests that start kopilka on free ports (port 0).
  if (env('KOPILKA_READY_JSON') === '1') {
    console.log(`kopilka-ready ${JSON.stringify({ ...k.ports, terminalKey: secrets.terminalKey, adminToken })}`);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`kopilka: ${signal}, draining in-flight requests`);
    k.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('kopilka: stop failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('kopilka: cannot start:', err);
  process.exit(1);
});
