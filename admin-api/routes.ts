// The admin API's routes: what each one reads and changes. HTTP plumbing (auth,
// body limits, JSON, error bodies) is server.ts's; bodies arrive here already
// validated against the route's schema.

import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { ConfigSnapshot, CurrencyRate, OrganizationConfig } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import type { CompiledRulesCache } from './compiled-rules-cache.js';
import { changeConfig, listVersions, outletOf, readCurrentSnapshot, writeOrganization, type OutletRow } from './config-store.js';
import type { EngineOperations } from './engine-client.js';
import { guestsRoutes } from './guests-routes.js';
import { versions_limit_default, versions_limit_max } from './limits.js';
import {
  organizationSchema,
  outletSchema,
  programSchema,
  terminalSchema,
  type BodyCheck,
  type BodySchema,
  type OrganizationBody,
  type OutletBody,
  type ProgramBody,
  type TerminalBody,
} from './request-schemas.js';
import { rulesRoutes } from './rules-routes.js';
import type { SqlClient } from './sql-client.js';
import { newTerminalKey, terminalKeySha256 } from './terminal-key.js';

export interface RouteRequest {
  sql: SqlClient;
  /** Captures of the route's path pattern, decoded. */
  params: string[];
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The JSON body, validated against the route's schema; undefined when it has none. */
  body: unknown;
  /** Who is making the change, for the version history. */
  author: string;
  /** This server's published rules, compiled once per version (for simulation). */
  compiledRules: CompiledRulesCache;
  /** The engine, for the guest routes (engine-client.ts). */
  operations: EngineOperations;
}

export interface RouteReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A version this request published, for onPublish. */
  published?: ConfigSnapshot | null;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: RegExp;
  /** The body schema, or the function that checks it; null when the route reads no body. */
  schema: BodySchema | BodyCheck | null;
  /** The largest body it reads, bytes; default body_bytes_max. */
  bodyBytesMax?: number;
  handle(request: RouteRequest): Promise<RouteReply>;
}

export const routes: readonly Route[] = [
  { method: 'GET', path: /^\/v1\/config$/, schema: null, handle: getConfig },
  { method: 'GET', path: /^\/v1\/config\/versions$/, schema: null, handle: getVersions },
  { method: 'GET', path: /^\/v1\/organization$/, schema: null, handle: getOrganization },
  { method: 'PATCH', path: /^\/v1\/organization$/, schema: organizationSchema, handle: patchOrganization },
  { method: 'GET', path: /^\/v1\/program$/, schema: null, handle: getProgram },
  { method: 'PUT', path: /^\/v1\/program$/, schema: programSchema, handle: putProgram },
  { method: 'GET', path: /^\/v1\/outlets$/, schema: null, handle: getOutlets },
  { method: 'POST', path: /^\/v1\/outlets$/, schema: outletSchema, handle: postOutlet },
  { method: 'GET', path: /^\/v1\/terminals$/, schema: null, handle: getTerminals },
  { method: 'POST', path: /^\/v1\/terminals$/, schema: terminalSchema, handle: postTerminal },
  { method: 'DELETE', path: /^\/v1\/terminals\/([^/]+)$/, schema: null, handle: deleteTerminal },
  ...rulesRoutes,
  ...guestsRoutes,
];

/** What the engine polls: the current snapshot, cached by version. */
async function getConfig({ sql, headers }: RouteRequest): Promise<RouteReply> {
  const snapshot = await currentSnapshot(sql);
  const etag = `"${snapshot.version}"`;
  // no-cache: a proxy may keep it, but must ask us before serving it again.
  const replyHeaders = { etag, 'cache-control': 'no-cache' };
  if (etagMatches(headers['if-none-match'], etag)) return { status: 304, headers: replyHeaders };
  return { status: 200, body: snapshot, headers: replyHeaders };
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  // A list of tags, weak or strong, or `*`; weak comparison is right for GET.
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

async function getVersions({ sql, query }: RouteRequest): Promise<RouteReply> {
  const raw = query.get('limit');
  const limit = raw === null ? versions_limit_default : Number(raw);
  if (raw !== null && (!/^\d+$/.test(raw) || limit < 1 || limit > versions_limit_max)) {
    throw new KopilkaError('invalid_field', `limit must be an integer from 1 to ${versions_limit_max}`, 'limit');
  }
  return { status: 200, body: await listVersions(sql, limit) };
}

/**
 * The organization's settings as an admin edits them: the card settings always
 * shown, with their defaults (no masks: any number; new cards replace nothing).
 */
interface OrganizationSettings {
  id: string;
  name: string;
  currency: string;
  timeZone: string;
  cardMasks: string[];
  newCardReplacesOthers: boolean;
  currencyRates: CurrencyRate[];
}

function settingsOf(organization: OrganizationConfig): OrganizationSettings {
  return {
    id: organization.id,
    name: organization.name,
    currency: organization.currency,
    timeZone: organization.timeZone,
    cardMasks: organization.cardMasks ?? [],
    newCardReplacesOthers: organization.newCardReplacesOthers ?? false,
    currencyRates: organization.currencyRates ?? [],
  };
}

async function getOrganization({ sql }: RouteRequest): Promise<RouteReply> {
  const snapshot = await currentSnapshot(sql);
  return { status: 200, body: { version: snapshot.version, organization: settingsOf(snapshot.organization) } };
}

/**
 * Changes the fields given and publishes the next version; an edit that leaves
 * every setting as it is publishes nothing and answers the current version.
 */
async function patchOrganization({ sql, body, author }: RouteRequest): Promise<RouteReply> {
  const edit = body as OrganizationBody;
  const { result, snapshot } = await changeConfig(sql, author, async (q, { version, organization }) => {
    // Checked under the config lock: no other change can slip in between.
    if (edit.expectedVersion !== undefined && edit.expectedVersion !== version) {
      throw new KopilkaError(
        'conflict',
        `expectedVersion is ${edit.expectedVersion} but the current version is ${version}: ` +
          'read GET /v1/organization again and re-apply your edit',
      );
    }
    if (edit.currency !== undefined && edit.currency !== organization.currency) {
      throw new KopilkaError(
        'invalid_field',
        `currency cannot be changed (balances and checks are in ${organization.currency}): leave it out`,
        'currency',
      );
    }
    // The schema checked the rates' shape; only here is the organization's own currency known.
    const own = edit.currencyRates?.findIndex((r) => r.currency === organization.currency) ?? -1;
    if (own >= 0) {
      throw new KopilkaError(
        'invalid_field',
        `currencyRates[${own}].currency must not be the organization's own currency ${organization.currency}: its checks need no rate`,
        `currencyRates[${own}].currency`,
      );
    }
    const current = settingsOf(organization);
    const next: OrganizationSettings = {
      ...current,
      name: edit.name ?? current.name,
      timeZone: edit.timeZone ?? current.timeZone,
      cardMasks: edit.cardMasks ?? current.cardMasks,
      newCardReplacesOthers: edit.newCardReplacesOthers ?? current.newCardReplacesOthers,
      currencyRates: edit.currencyRates ?? current.currencyRates,
    };
    if (JSON.stringify(next) === JSON.stringify(current)) return { result: { version, organization: current }, publish: false };
    await writeOrganization(q, next);
    return { result: { version, organization: next }, publish: true };
  });
  return {
    status: 200,
    body: {
      version: snapshot?.version ?? result.version,
      organization: snapshot === null ? result.organization : settingsOf(snapshot.organization),
    },
    published: snapshot,
  };
}

async function getProgram({ sql }: RouteRequest): Promise<RouteReply> {
  const snapshot = await currentSnapshot(sql);
  return { status: 200, body: { version: snapshot.version, program: snapshot.program } };
}

async function putProgram({ sql, body, author }: RouteRequest): Promise<RouteReply> {
  const edit = body as ProgramBody;
  const { snapshot } = await changeConfig(sql, author, async (q, { version, organization }) => {
    // Checked under the config lock: no other change can slip in between.
    if (edit.expectedVersion !== undefined && edit.expectedVersion !== version) {
      throw new KopilkaError(
        'conflict',
        `expectedVersion is ${edit.expectedVersion} but the current version is ${version}: ` +
          'read GET /v1/program again and re-apply your edit',
      );
    }
    const updated = await q.query(
      `update programs
          set name = coalesce($2, name), accrual_bp = $3, pay_max_bp = $4, point_value_minor = $5,
              activation_delay_days = coalesce($6, activation_delay_days),
              expiry_months = coalesce($7, expiry_months),
              hold_timeout_seconds = coalesce($8, hold_timeout_seconds),
              refund_debt_policy = coalesce($9, refund_debt_policy),
              updated_at = now()
        where organization_id = $1
        returning id`,
      [
        organization.id, edit.name ?? null, edit.accrualBp, edit.payMaxBp, edit.pointValueMinor,
        edit.activationDelayDays ?? null, edit.expiryMonths ?? null, edit.holdTimeoutSeconds ?? null, edit.refundDebtPolicy ?? null,
      ],
    );
    assert.equal(updated.rows.length, 1, 'an organization has exactly one program');
    return { result: undefined, publish: true };
  });
  assert.ok(snapshot !== null);
  return { status: 200, body: { version: snapshot.version, program: snapshot.program }, published: snapshot };
}

async function getOutlets({ sql }: RouteRequest): Promise<RouteReply> {
  const { rows } = await sql.query<OutletRow>('select id, name, partner, tags from outlets order by id');
  return { status: 200, body: rows.map(outletOf) };
}

async function postOutlet({ sql, body, author }: RouteRequest): Promise<RouteReply> {
  const outlet = body as OutletBody;
  const { snapshot } = await changeConfig(sql, author, async (q, { organization }) => {
    const inserted = await q.query(
      `insert into outlets (id, organization_id, name, partner, tags) values ($1, $2, $3, $4, $5)
       on conflict (id) do nothing returning id`,
      [outlet.id, organization.id, outlet.name, outlet.partner ?? null, JSON.stringify(outlet.tags ?? [])],
    );
    if (inserted.rows.length === 0) {
      throw new KopilkaError('conflict', `outlet ${outlet.id} already exists: choose another id`);
    }
    return { result: undefined, publish: true };
  });
  assert.ok(snapshot !== null);
  return {
    status: 201,
    body: { version: snapshot.version, outlet: outletOf({ id: outlet.id, name: outlet.name, partner: outlet.partner ?? null, tags: outlet.tags ?? [] }) },
    published: snapshot,
  };
}

async function getTerminals({ sql }: RouteRequest): Promise<RouteReply> {
  // Never the key hashes: they are for the engine, which reads the snapshot.
  const { rows } = await sql.query<{ id: string; outlet_id: string; created_at: Date; revoked_at: Date | null }>(
    'select id, outlet_id, created_at, revoked_at from terminals order by id',
  );
  const terminals = rows.map((r) => ({
    id: r.id,
    outletId: r.outlet_id,
    createdAt: r.created_at.toISOString(),
    revokedAt: r.revoked_at?.toISOString() ?? null,
  }));
  return { status: 200, body: terminals };
}

async function postTerminal({ sql, body, author }: RouteRequest): Promise<RouteReply> {
  const terminal = body as TerminalBody;
  const key = newTerminalKey();
  const { snapshot } = await changeConfig(sql, author, async (q) => {
    const outlet = await q.query('select 1 from outlets where id = $1', [terminal.outletId]);
    if (outlet.rows.length === 0) {
      throw new KopilkaError(
        'invalid_field',
        `outletId ${terminal.outletId} names no outlet: create it first with POST /v1/outlets`,
        'outletId',
      );
    }
    // A revoked terminal keeps its id, so its history stays unambiguous.
    const inserted = await q.query(
      `insert into terminals (id, outlet_id, key_sha256) values ($1, $2, $3)
       on conflict (id) do nothing returning id`,
      [terminal.id, terminal.outletId, terminalKeySha256(key)],
    );
    if (inserted.rows.length === 0) {
      throw new KopilkaError('conflict', `terminal ${terminal.id} already exists (ids of revoked ones are not reused)`);
    }
    return { result: undefined, publish: true };
  });
  assert.ok(snapshot !== null);
  // The key is in this answer and nowhere else: it cannot be shown again.
  return {
    status: 201,
    body: { version: snapshot.version, terminal: { id: terminal.id, outletId: terminal.outletId }, key },
    published: snapshot,
  };
}

async function deleteTerminal({ sql, params, author }: RouteRequest): Promise<RouteReply> {
  const id = params[0] ?? '';
  const { result, snapshot } = await changeConfig(sql, author, async (q, { version }) => {
    const revoked = await q.query<{ outlet_id: string; revoked_at: Date }>(
      `update terminals set revoked_at = now() where id = $1 and revoked_at is null
       returning outlet_id, revoked_at`,
      [id],
    );
    const row = revoked.rows[0] ?? (await revokedBefore(q, id));
    const terminal = { id, outletId: row.outlet_id, revokedAt: row.revoked_at.toISOString() };
    // Revoking twice is not an error and publishes nothing the second time.
    const publish = revoked.rows.length === 1;
    return { result: { version, terminal }, publish };
  });
  return {
    status: 200,
    body: { version: snapshot?.version ?? result.version, terminal: result.terminal },
    published: snapshot,
  };
}

async function revokedBefore(q: SqlClient, id: string): Promise<{ outlet_id: string; revoked_at: Date }> {
  const { rows } = await q.query<{ outlet_id: string; revoked_at: Date | null }>(
    'select outlet_id, revoked_at from terminals where id = $1',
    [id],
  );
  const row = rows[0];
  if (row === undefined) throw new KopilkaError('not_found', `terminal ${id} does not exist`);
  assert.ok(row.revoked_at !== null, 'the update above revokes an active terminal');
  return { outlet_id: row.outlet_id, revoked_at: row.revoked_at };
}

async function currentSnapshot(sql: SqlClient): Promise<ConfigSnapshot> {
  const snapshot = await readCurrentSnapshot(sql);
  if (snapshot === null) throw new KopilkaError('not_configured', 'no configuration has been published yet');
  return snapshot;
}
