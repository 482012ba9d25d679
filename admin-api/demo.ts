// The demo configuration: one coffee shop with one till and a 5% bonus program,
// so a fresh install answers a check at once, and the sandbox and the tests have
// something to run against. Seeded only into an empty database.

import type { ConfigSnapshot } from '../protocol/config.js';
import { lockConfig, publishVersion, readOrganization } from './config-store.js';
import type { SqlClient } from './sql-client.js';
import { terminalKeySha256 } from './terminal-key.js';

export interface SeedDemoOptions {
  /** The key terminal-1 will present; only its SHA-256 is stored. */
  terminalKey: string;
  /** Recorded as the author of version 1. Default "demo". */
  author?: string;
}

/**
 * Creates the demo organization and publishes version 1 when no organization
 * exists; otherwise changes nothing. Returns the snapshot it published, or null.
 */
export async function seedDemo(sql: SqlClient, options: SeedDemoOptions): Promise<ConfigSnapshot | null> {
  return sql.transaction(async (q) => {
    // Under the config lock, so two processes starting at once seed once.
    await lockConfig(q);
    if ((await readOrganization(q)) !== null) return null;
    await q.query(
      `insert into organizations (id, name, currency, time_zone)
       values ('demo', 'Demo Coffee', 'RUB', 'Europe/Moscow')`,
    );
    await q.query(
      `insert into outlets (id, organization_id, name)
       values ('outlet-1', 'demo', 'Demo Coffee, Tverskaya 1')`,
    );
    await q.query(
      `insert into terminals (id, outlet_id, key_sha256) values ('terminal-1', 'outlet-1', $1)`,
      [terminalKeySha256(options.terminalKey)],
    );
    // 5% of the money paid comes back as points; points pay at most half a
    // check; one point is worth 1.00.
    await q.query(
      `insert into programs (id, organization_id, name, accrual_bp, pay_max_bp, point_value_minor)
       values ('bonus', 'demo', 'Demo bonus', 500, 5000, 100)`,
    );
    return publishVersion(q, options.author ?? 'demo');
  });
}
