// One kopilka: the engine, its doors (gRPC; HTTP + WebSocket; /metrics, /healthz)
// and, unless an external admin API is named, the admin API embedded in the same
// process on PGlite (or on Postgres when `databaseUrl` is given).
//
//   const k = await startKopilka({ dataDir: './data', demo: { terminalKey, adminToken } });
//   console.log(k.ports);   // { http, grpc, admin }
//   await k.stop();         // drains in-flight requests first

import { startConfigSync, type ConfigSync } from './adapters/config-sync.js';
import { startGrpcDoor } from './adapters/grpc-door.js';
import { startUwsDoor } from './adapters/uws-door.js';
import { uwsIsNative } from './adapters/uws.js';
import { startAdminApi } from './admin-api/index.js';
import { Engine } from './engine/engine.js';

export interface KopilkaOptions {
  dataDir: string;
  host?: string;
  /** 0 picks a free port. */
  httpPort?: number;
  grpcPort?: number;
  adminPort?: number;
  shards?: number;
  threads?: number;
  adminToken: string;
  /** Postgres for the embedded admin API; PGlite under `<dataDir>` when absent. */
  databaseUrl?: string;
  /** An admin API running elsewhere; when set, none is embedded. */
  adminUrl?: string;
  /** Seeds the demo configuration with this terminal key when the admin store is empty. */
  demoTerminalKey?: string;
  configPollMs?: number;
  /** How long `stop()` waits for in-flight requests. */
  drainMs?: number;
}

export interface Kopilka {
  engine: Engine;
  ports: { http: number; grpc: number; admin: number | undefined };
  adminUrl: string;
  configSync: ConfigSync;
  stop(): Promise<void>;
}

export async function startKopilka(o: KopilkaOptions): Promise<Kopilka> {
  if (!uwsIsNative()) throw new Error('uWebSockets.js runs its JavaScript fallback, not the native binary; refusing to start');
  const host = o.host ?? '127.0.0.1';
  const engine = Engine.open({ dataDir: o.dataDir, shards: o.shards, threads: o.threads });
  const admin =
    o.adminUrl === undefined
      ? await startAdminApi({
          databaseUrl: o.databaseUrl,
          dataDir: o.dataDir,
          port: o.adminPort ?? 0,
          host,
          adminToken: o.adminToken,
          demoTerminalKey: o.demoTerminalKey,
          // In one process a publish reaches the engine at once; the poll covers the rest.
          onPublish: (snapshot) => engine.applyConfig(snapshot),
          // The guest routes (look-up, adjustments, top-ups) run on this engine directly.
          operations: (op, body) => engine.execute(op, body),
        })
      : undefined;
  const adminUrl = o.adminUrl ?? admin!.url;
  const configSync = startConfigSync({ engine, adminUrl, adminToken: o.adminToken, intervalMs: o.configPollMs });
  await configSync.pollNow();
  const uws = await startUwsDoor({ engine, host, port: o.httpPort ?? 0 });
  const grpc = await startGrpcDoor({ engine, host, port: o.grpcPort ?? 0 });
  let stopping: Promise<void> | undefined;
  return {
    engine,
    ports: { http: uws.port, grpc: grpc.port, admin: admin?.port },
    adminUrl,
    configSync,
    stop() {
      stopping ??= (async () => {
        uws.stopListening();
        configSync.stop();
        await engine.drain(o.drainMs ?? 10_000);
        uws.closeConnections();
        await grpc.close(1000);
        await admin?.close();
        await engine.close();
      })();
      return stopping;
    },
  };
}
