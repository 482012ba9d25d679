// Configuration in Postgres, and its publication as versioned snapshots. The
// tables are what admins edit; `config_versions` is what the engine runs. Every
// change writes the next version, holding the whole snapshot, in the same
// transaction as the change: a committed edit is always published, and a
// published version always matches the tables it was built from.

import assert from 'node:assert/strict';
import type { RulesConfig } from '../engine/rules/model.js';
import {
  emptyRules,
  withRules,
  type BonusProgramConfig,
  type ConfigSnapshot,
  type CurrencyRate,
  type OrganizationConfig,
  type OutletConfig,
  type StoredConfigSnapshot,
  type TerminalConfig,
} from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type { SqlClient } from './sql-client.js';

/**
 * Publishers take turns on this advisory lock (held to the end of their
 * transaction), so two concurrent changes cannot both read version N and both
 * write N + 1; the primary key on `version` would refuse the second anyway.
 * Taking turns also makes an `expectedVersion` check exact.
 */
const config_lock_key = 0x6b6f_0002;

export interface VersionInfo {
  version: number;
  author: string;
  publishedAt: string;
}

export interface ChangeContext {
  /** The version published before this change: 0 when none was. */
  version: number;
  organization: OrganizationConfig;
}

/** What a change did: `publish: false` when it turned out to change nothing. */
export interface ConfigChange<T> {
  result: T;
  publish: boolean;
}

/**
 * Runs `change` in one transaction under the config lock and, when it changed
 * something, publishes the next version in that same transaction.
 */
export async function changeConfig<T>(
  sql: SqlClient,
  author: string,
  change: (q: SqlClient, context: ChangeContext) => Promise<ConfigChange<T>>,
): Promise<{ result: T; snapshot: ConfigSnapshot | null }> {
  return sql.transaction(async (q) => {
    await lockConfig(q);
    const organization = await readOrganization(q);
    if (organization === null) {
      throw new KopilkaError(
        'not_configured',
        'no organization exists yet: start the admin API with demoTerminalKey to create the demo one',
      );
    }
    const version = await latestVersion(q);
    const { result, publish } = await change(q, { version, organization });
    const snapshot = publish ? await publishVersion(q, author) : null;
    return { result, snapshot };
  });
}

/** Call first in a transaction that publishes; released at its commit or rollback. */
export async function lockConfig(q: SqlClient): Promise<void> {
  await q.query('select pg_advisory_xact_lock($1)', [config_lock_key]);
}

export async function latestVersion(q: SqlClient): Promise<number> {
  const { rows } = await q.query<{ version: number | null }>(
    'select max(version) as version from config_versions',
  );
  return rows[0]?.version ?? 0;
}

/** Builds the snapshot from the tables and stores it as the next version. Hold the lock. */
export async function publishVersion(q: SqlClient, author: string): Promise<ConfigSnapshot> {
  const version = (await latestVersion(q)) + 1;
  const publishedAt = new Date().toISOString();
  const snapshot = await buildSnapshot(q, version, author, publishedAt);
  await q.query(
    'insert into config_versions (version, snapshot, author, published_at) values ($1, $2::jsonb, $3, $4)',
    [version, JSON.stringify(snapshot), author, publishedAt],
  );
  return snapshot;
}

/** The newest version; one published before promotions existed gets empty rules. */
export async function readCurrentSnapshot(sql: SqlClient): Promise<ConfigSnapshot | null> {
  const { rows } = await sql.query<{ snapshot: StoredConfigSnapshot }>(
    'select snapshot from config_versions order by version desc limit 1',
  );
  const snapshot = rows[0]?.snapshot;
  return snapshot === undefined ? null : withRules(snapshot);
}

/** Newest first. */
export async function listVersions(sql: SqlClient, limit: number): Promise<VersionInfo[]> {
  const { rows } = await sql.query<{ version: number; author: string; published_at: Date }>(
    'select version, author, published_at from config_versions order by version desc limit $1',
    [limit],
  );
  return rows.map((r) => ({ version: r.version, author: r.author, publishedAt: r.published_at.toISOString() }));
}

/**
 * The organization the snapshot describes. One per database for now; a
 * coalition (organization → partners) will add a partner level, not more rows.
 * The card settings and the currency rates appear only when set (lists non-empty,
 * the flag true), so an organization without them is carried exactly as before
 * they existed.
 */
export async function readOrganization(q: SqlClient): Promise<OrganizationConfig | null> {
  const { rows } = await q.query<{
    id: string;
    name: string;
    currency: string;
    time_zone: string;
    card_masks: string[] | string | null;
    new_card_replaces_others: boolean;
    currency_rates: CurrencyRate[] | string | null;
  }>(
    `select id, name, currency, time_zone, card_masks, new_card_replaces_others, currency_rates
       from organizations order by created_at, id limit 1`,
  );
  const row = rows[0];
  if (row === undefined) return null;
  const organization: OrganizationConfig = { id: row.id, name: row.name, currency: row.currency, timeZone: row.time_zone };
  // jsonb arrives parsed from pg, and as text from some PGlite paths.
  const masks = typeof row.card_masks === 'string' ? (JSON.parse(row.card_masks) as string[]) : (row.card_masks ?? []);
  if (masks.length > 0) organization.cardMasks = masks;
  if (row.new_card_replaces_others) organization.newCardReplacesOthers = true;
  const rates = typeof row.currency_rates === 'string' ? (JSON.parse(row.currency_rates) as CurrencyRate[]) : (row.currency_rates ?? []);
  // jsonb keeps keys in an order of its own: back in the order the schema writes them, so equal lists compare equal.
  if (rates.length > 0) {
    organization.currencyRates = rates.map((r) =>
      r.minorDigits === undefined ? { currency: r.currency, rate: r.rate } : { currency: r.currency, rate: r.rate, minorDigits: r.minorDigits },
    );
  }
  return organization;
}

/** Stores the organization's editable settings; publish in the same transaction. */
export async function writeOrganization(q: SqlClient, organization: OrganizationConfig): Promise<void> {
  const updated = await q.query(
    `update organizations
        set name = $2, time_zone = $3, card_masks = $4::jsonb, new_card_replaces_others = $5,
            currency_rates = $6::jsonb
      where id = $1
      returning id`,
    [
      organization.id,
      organization.name,
      organization.timeZone,
      JSON.stringify(organization.cardMasks ?? []),
      organization.newCardReplacesOthers === true,
      JSON.stringify(organization.currencyRates ?? []),
    ],
  );
  assert.equal(updated.rows.length, 1, 'the organization written is the one read under the config lock');
}

export async function readProgram(q: SqlClient, organizationId: string): Promise<BonusProgramConfig | null> {
  const { rows } = await q.query<{
    id: string;
    name: string;
    accrual_bp: number;
    pay_max_bp: number;
    point_value_minor: number;
    activation_delay_days: number;
    expiry_months: number;
    hold_timeout_seconds: number;
    refund_debt_policy: 'negative' | 'clamp';
  }>(
    `select id, name, accrual_bp, pay_max_bp, point_value_minor,
            activation_delay_days, expiry_months, hold_timeout_seconds, refund_debt_policy
       from programs where organization_id = $1 order by id limit 1`,
    [organizationId],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    id: row.id,
    name: row.name,
    accrualBp: row.accrual_bp,
    payMaxBp: row.pay_max_bp,
    pointValueMinor: row.point_value_minor,
    activationDelayDays: row.activation_delay_days,
    expiryMonths: row.expiry_months,
    holdTimeoutSeconds: row.hold_timeout_seconds,
    refundDebtPolicy: row.refund_debt_policy,
  };
}

/**
 * The organization's promotions configuration, as validateRules normalized it
 * when it was saved; no row yet (nothing configured, or a database from before
 * promotions) is the empty configuration.
 */
export async function readRules(q: SqlClient, organizationId: string): Promise<RulesConfig> {
  const { rows } = await q.query<{ document: RulesConfig }>(
    'select document from rules where organization_id = $1',
    [organizationId],
  );
  return rows[0]?.document ?? emptyRules();
}

/** Stores a document validateRules accepted (its normalized `config`); publish in the same transaction. */
export async function writeRules(q: SqlClient, organizationId: string, rules: RulesConfig): Promise<void> {
  await q.query(
    `insert into rules (organization_id, document, updated_at) values ($1, $2::jsonb, now())
     on conflict (organization_id) do update set document = excluded.document, updated_at = excluded.updated_at`,
    [organizationId, JSON.stringify(rules)],
  );
}

async function buildSnapshot(
  q: SqlClient,
  version: number,
  author: string,
  publishedAt: string,
): Promise<ConfigSnapshot> {
  const organization = await readOrganization(q);
  assert.ok(organization !== null, 'a snapshot is published only once an organization exists');
  const program = await readProgram(q, organization.id);
  assert.ok(program !== null, 'the organization and its program are created together');
  const outlets = await q.query<OutletRow>(
    'select id, name, partner, tags from outlets where organization_id = $1 order by id',
    [organization.id],
  );
  // Revoked terminals are left out: the engine refuses any key it does not find.
  const terminals = await q.query<{ id: string; outlet_id: string; key_sha256: string }>(
    `select t.id, t.outlet_id, t.key_sha256
       from terminals t join outlets o on o.id = t.outlet_id
      where o.organization_id = $1 and t.revoked_at is null
      order by t.id`,
    [organization.id],
  );
  return {
    version,
    publishedAt,
    author,
    organization,
    outlets: outlets.rows.map(outletOf),
    terminals: terminals.rows.map(
      (t): TerminalConfig => ({ id: t.id, outletId: t.outlet_id, keySha256: t.key_sha256 }),
    ),
    program,
    rules: await readRules(q, organization.id),
  };
}

export interface OutletRow {
  id: string;
  name: string;
  partner: string | null;
  tags: string[] | string | null;
}

/** An outlet row as the configuration carries it: partner and tags only when set. */
export function outletOf(r: OutletRow): OutletConfig {
  const out: OutletConfig = { id: r.id, name: r.name };
  if (r.partner !== null) out.partner = r.partner;
  // jsonb arrives parsed from pg, and as text from some PGlite paths.
  const tags = typeof r.tags === 'string' ? (JSON.parse(r.tags) as string[]) : (r.tags ?? []);
  if (tags.length > 0) out.tags = tags;
  return out;
}
