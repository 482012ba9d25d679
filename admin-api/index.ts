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
//     onPublish: (snapshot) => engine.applyConfig(snapshot),
//     // The guest routes' engine: this one, in process. A standalone admin API
//     // gives engineUrl + engineKey (a terminal of outlet "admin") instead.
//     operations: (op, body) => engine.execute(op, body),
//   });
//   // curl -H "Authorization: Bearer $KOPILKA_ADMIN_TOKEN" http://127.0.0.1:8081/v1/config
//   await admin.close();
//
// Routes: GET /healthz; GET /v1/config; GET /v1/config/versions?limit=N;
// GET|PATCH /v1/organization; GET|PUT /v1/program; GET|POST /v1/outlets; GET|POST /v1/terminals;
// DELETE /v1/terminals/:id. See routes.ts. Promotions (rules-routes.ts):
// GET /v1/rules; PUT /v1/rules/settings|catalog; PUT /v1/rules/accounts/:id;
// PUT /v1/rules/partners/:id; GET /v1/periods; GET|PUT|DELETE /v1/periods/:id;
// GET /v1/promotions?status=; GET|PUT /v1/promotions/:id;
// POST /v1/promotions/:id/archive; POST /v1/simulate. Guests (guests-routes.ts,
// through the engine): GET /v1/guests/:card?limit=N; POST /v1/guests/:card/adjustments;
// POST /v1/guests/:card/top-ups.

export { startAdminApi, type AdminApi, type AdminApiOptions } from './server.js';
export { openSqlClient, openPgPool, openPglite, type SqlClient, type SqlClientOptions } from './sql-client.js';
export { migrations, runMigrations, type Migration } from './migrations.js';
export { seedDemo, type SeedDemoOptions } from './demo.js';
export { readCurrentSnapshot, listVersions, type VersionInfo } from './config-store.js';
export { newTerminalKey, terminalKeySha256 } from './terminal-key.js';
export { admin_outlet_id, engineDoorClient, noEngine, type EngineDoorOptions, type EngineOperations } from './engine-client.js';
export { CompiledRulesCache } from './compiled-rules-cache.js';
export { RulesInvalidError, type RulesErrorBody } from './rules-edits.js';
export { validateSimulateRequest, type SimulateRequest } from './simulate-request.js';
export { emptyRules, withRules, type ConfigSnapshot, type StoredConfigSnapshot } from '../protocol/config.js';
