// kopilka admin API: a separate HTTP service that keeps the configuration in
// Postgres (a server via DATABASE_URL, or PGlite embedded under dataDir) and
// publishes it as versioned ConfigSnapshots, which the engine polls from
// GET /v1/config (ETag = version) or receives through onPublish.
//
//   import { startAdminApi } from './admin-api/index.js';
//
//   const admin = await startAdminApi({
//     databaseUrl: process.env.DATABASE_URL, // unset → PGlite in ./data/admin-pg
//     dataDir: './data',
//     port: 8081,
//     adminToken: process.env.KOPILKA_ADMIN_TOKEN!,
//     demoTerminalKey: 'demo-terminal-key', // seeds "Demo Coffee" into an empty database
//     onPublish: (snapshot) => engine.swapConfig(snapshot),
//   });
//   // curl -H "Authorization: Bearer $KOPILKA_ADMIN_TOKEN" http://127.0.0.1:8081/v1/config
//   await admin.close();
//
// Routes: GET /healthz; GET /v1/config; GET /v1/config/versions?limit=N;
// GET|PUT /v1/program; GET|POST /v1/outlets; GET|POST /v1/terminals;
// DELETE /v1/terminals/:id. See routes.ts.

export { startAdminApi, type AdminApi, type AdminApiOptions } from './server.js';
export { openSqlClient, openPgPool, openPglite, type SqlClient, type SqlClientOptions } from './sql-client.js';
export { migrations, runMigrations, type Migration } from './migrations.js';
export { seedDemo, type SeedDemoOptions } from './demo.js';
export { readCurrentSnapshot, listVersions, type VersionInfo } from './config-store.js';
export { newTerminalKey, terminalKeySha256 } from './terminal-key.js';
export type { ConfigSnapshot } from '../protocol/config.js';
