// Versioned schema of the admin database. Migrations are applied in order, each
// once, each in its own transaction with its row in `schema_migrations`, so a
// failed one leaves the schema at the last good step. Never edit a migration
// that has shipped: add the next one.

import type { SqlClient } from './sql-client.js';

export interface Migration {
  /** Sortable and unique: `0001_name`. Recorded in schema_migrations. */
  id: string;
  sql: string;
}

/**
 * Two processes starting at once (a rolling deploy) would both see a migration
 * missing and both apply it; this advisory lock makes the second wait and then
 * find it done. Any number: it only has to differ from the other locks we take.
 */
const migrations_lock_key = 0x6b6f_0001;

export const migrations: readonly Migration[] = [
  {
    id: '0001_config',
    sql: `
      create table organizations (
        id text primary key,
        name text not null,
        currency text not null,
        time_zone text not null,
        created_at timestamptz not null default now()
      );
      create table outlets (
        id text primary key,
        organization_id text not null references organizations (id),
        name text not null,
        created_at timestamptz not null default now()
      );
      -- Only the hash of a terminal key is stored: a leaked table grants no access.
      create table terminals (
        id text primary key,
        outlet_id text not null references outlets (id),
        key_sha256 text not null,
        created_at timestamptz not null default now(),
        revoked_at timestamptz
      );
      create table programs (
        id text primary key,
        organization_id text not null references organizations (id),
        name text not null,
        accrual_bp integer not null check (accrual_bp between 0 and 10000),
        pay_max_bp integer not null check (pay_max_bp between 0 and 10000),
        point_value_minor integer not null check (point_value_minor between 1 and 1000000),
        updated_at timestamptz not null default now()
      );
      -- Every published change is one row holding the whole snapshot the engine
      -- runs: any version can be read back, diffed or re-published as it was.
      create table config_versions (
        version integer primary key check (version >= 1),
        snapshot jsonb not null,
        author text not null,
        published_at timestamptz not null
      );
    `,
  },
  {
    id: '0002_points_lifecycle',
    sql: `
      alter table programs
        add column activation_delay_days integer not null default 0 check (activation_delay_days between 0 and 365),
        add column expiry_months integer not null default 0 check (expiry_months between 0 and 120),
        add column hold_timeout_seconds integer not null default 900 check (hold_timeout_seconds between 10 and 86400),
        add column refund_debt_policy text not null default 'negative' check (refund_debt_policy in ('negative', 'clamp'));
    `,
  },
  {
    // The promotions configuration is one document per organization, not a row
    // per period or promotion: it is validated whole (a promotion names periods
    // and accounts), its order means something (promotions of equal priority
    // rank in the order given), and the engine reads it whole. So the row holds
    // exactly the normalized document validateRules accepted, and a change
    // rewrites it in the transaction that publishes it. No row: no promotions.
    id: '0003_rules',
    sql: `
      create table rules (
        organization_id text primary key references organizations (id),
        document jsonb not null,
        updated_at timestamptz not null default now()
      );
    `,
  },
  {
    // Where an outlet stands for promotions: its coalition partner and its tags.
    id: '0004_outlet_place',
    sql: `
      alter table outlets
        add column partner text,
        add column tags jsonb not null default '[]';
    `,
  },
  {
    // The organization's card settings (OrganizationConfig.cardMasks and
    // newCardReplacesOthers). The defaults are what the engine does without
    // them: any card number, and a new card leaves the guest's others active.
    id: '0005_organization_cards',
    sql: `
      alter table organizations
        add column card_masks jsonb not null default '[]'
          check (jsonb_typeof(card_masks) = 'array' and jsonb_array_length(card_masks) <= 32),
        add column new_card_replaces_others boolean not null default false;
    `,
  },
  {
    // Rates for checks in other currencies (OrganizationConfig.currencyRates). The
    // default is what the engine does without them: only the organization's currency.
    id: '0006_organization_currency_rates',
    sql: `
      alter table organizations
        add column currency_rates jsonb not null default '[]'
          check (jsonb_typeof(currency_rates) = 'array' and jsonb_array_length(currency_rates) <= 32);
    `,
  },
];

/** Applies the migrations this database lacks; returns the ids applied now. */
export async function runMigrations(sql: SqlClient): Promise<string[]> {
  const applied: string[] = [];
  for (const migration of migrations) {
    const ran = await sql.transaction(async (q) => {
      await q.query('select pg_advisory_xact_lock($1)', [migrations_lock_key]);
      await q.query(`create table if not exists schema_migrations (
        id text primary key,
        applied_at timestamptz not null default now()
      )`);
      const done = await q.query('select 1 from schema_migrations where id = $1', [migration.id]);
      if (done.rows.length > 0) return false;
      await q.query(migration.sql);
      await q.query('insert into schema_migrations (id) values ($1)', [migration.id]);
      return true;
    });
    if (ran) applied.push(migration.id);
  }
  return applied;
}
