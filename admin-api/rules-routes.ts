// The promotions routes: periods, promotions, the rest of the rules document
// (settings, accounts, catalog, partners), and simulation. Every change reads
// the stored document under the config lock, applies the edit (rules-edits.ts),
// validates the WHOLE resulting document with validateRules and, only when it
// passes, stores it and publishes the next version in the same transaction; a
// refused edit publishes nothing. `If-Match: "<version>"` (the ETag every answer
// here carries) makes a change conditional on the version it was based on.

import type { IncomingHttpHeaders } from 'node:http';
import { compileRules } from '../engine/rules/compile.js';
import { evaluate } from '../engine/rules/evaluate.js';
import { PROMOTION_STATUSES, type PromotionStatus, type RulesConfig } from '../engine/rules/model.js';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import { changeConfig, readCurrentSnapshot, readRules, writeRules } from './config-store.js';
import { config_version_max, rules_body_bytes_max } from './limits.js';
import {
  checkRules,
  deletePeriod as withoutPeriod,
  findById,
  jsonObject,
  upsert,
  withPathId,
  type RulesCollection,
} from './rules-edits.js';
import type { Route, RouteReply, RouteRequest } from './routes.js';
import { validateSimulateRequest, type SimulateRequest } from './simulate-request.js';
import type { SqlClient } from './sql-client.js';

const id = '([^/]+)';
/** Bodies of rule changes are JSON objects checked whole by validateRules, under the lock. */
const rulesBody = { schema: jsonObject, bodyBytesMax: rules_body_bytes_max } as const;

export const rulesRoutes: readonly Route[] = [
  { method: 'GET', path: /^\/v1\/rules$/, schema: null, handle: getRules },
  { method: 'PUT', path: /^\/v1\/rules\/settings$/, ...rulesBody, handle: (r) => putSection(r, 'settings') },
  { method: 'PUT', path: /^\/v1\/rules\/catalog$/, ...rulesBody, handle: (r) => putSection(r, 'catalog') },
  { method: 'PUT', path: new RegExp(`^/v1/rules/accounts/${id}$`), ...rulesBody, handle: (r) => putItem(r, 'accounts', 'account') },
  { method: 'PUT', path: new RegExp(`^/v1/rules/partners/${id}$`), ...rulesBody, handle: (r) => putItem(r, 'partners', 'partner') },
  { method: 'GET', path: /^\/v1\/periods$/, schema: null, handle: (r) => getList(r, 'periods') },
  { method: 'GET', path: new RegExp(`^/v1/periods/${id}$`), schema: null, handle: (r) => getItem(r, 'periods', 'period') },
  { method: 'PUT', path: new RegExp(`^/v1/periods/${id}$`), ...rulesBody, handle: (r) => putItem(r, 'periods', 'period') },
  { method: 'DELETE', path: new RegExp(`^/v1/periods/${id}$`), schema: null, handle: deletePeriod },
  { method: 'GET', path: /^\/v1\/promotions$/, schema: null, handle: getPromotions },
  { method: 'GET', path: new RegExp(`^/v1/promotions/${id}$`), schema: null, handle: (r) => getItem(r, 'promotions', 'promotion') },
  { method: 'PUT', path: new RegExp(`^/v1/promotions/${id}$`), ...rulesBody, handle: (r) => putItem(r, 'promotions', 'promotion') },
  { method: 'POST', path: new RegExp(`^/v1/promotions/${id}/archive$`), schema: null, handle: archivePromotion },
  { method: 'POST', path: /^\/v1\/simulate$/, schema: validateSimulateRequest, bodyBytesMax: rules_body_bytes_max, handle: simulate },
];

// --- Reading -----------------------------------------------------------------

async function published(sql: SqlClient): Promise<ConfigSnapshot> {
  const snapshot = await readCurrentSnapshot(sql);
  if (snapshot === null) throw new KopilkaError('not_configured', 'no configuration has been published yet');
  return snapshot;
}

function reply(status: number, version: number, body: Record<string, unknown>, snapshot?: ConfigSnapshot | null): RouteReply {
  return { status, body: { version, ...body }, headers: { etag: `"${version}"` }, published: snapshot ?? null };
}

async function getRules({ sql }: RouteRequest): Promise<RouteReply> {
  const snapshot = await published(sql);
  return reply(200, snapshot.version, { rules: snapshot.rules });
}

async function getList({ sql }: RouteRequest, collection: RulesCollection): Promise<RouteReply> {
  const snapshot = await published(sql);
  return reply(200, snapshot.version, { [collection]: snapshot.rules[collection] });
}

async function getPromotions({ sql, query }: RouteRequest): Promise<RouteReply> {
  const status = query.get('status');
  if (status !== null && !PROMOTION_STATUSES.includes(status as PromotionStatus)) {
    throw new KopilkaError('invalid_field', `status must be one of ${PROMOTION_STATUSES.join(', ')}, or left out for all`, 'status');
  }
  const snapshot = await published(sql);
  const promotions = snapshot.rules.promotions.filter((p) => status === null || p.status === status);
  return reply(200, snapshot.version, { promotions });
}

async function getItem({ sql, params }: RouteRequest, collection: RulesCollection, noun: string): Promise<RouteReply> {
  const wanted = params[0] ?? '';
  const snapshot = await published(sql);
  const item = findById<{ id: string }>(snapshot.rules[collection], wanted);
  if (item === undefined) throw new KopilkaError('not_found', `${noun} ${wanted} does not exist`);
  return reply(200, snapshot.version, { [noun]: item });
}

// --- Changing ----------------------------------------------------------------

interface RulesChanged {
  /** The version now current: the new one, or the old one when nothing changed. */
  version: number;
  /** The rules of that version, as stored. */
  rules: RulesConfig;
  snapshot: ConfigSnapshot | null;
}

/**
 * Applies `edit` to the stored document under the config lock: the whole
 * result is validated, stored and published, or refused whole. An edit that
 * returns null changes nothing and publishes nothing.
 */
async function changeRules(request: RouteRequest, edit: (rules: RulesConfig) => unknown | null): Promise<RulesChanged> {
  // Read at the door, checked under the lock: no other change slips in between.
  const expected = ifMatch(request.headers);
  const { result, snapshot } = await changeConfig(request.sql, request.author, async (q, { version, organization }) => {
    if (expected !== null && !expected.includes(version)) {
      throw new KopilkaError(
        'conflict',
        `If-Match names version ${expected.join(', ')} but the current version is ${version}: ` +
          'read the rules again and re-apply your edit',
      );
    }
    const current = await readRules(q, organization.id);
    const next = edit(current);
    if (next === null) return { result: { version, rules: current }, publish: false };
    const rules = checkRules(next);
    await writeRules(q, organization.id, rules);
    return { result: { version, rules }, publish: true };
  });
  if (snapshot === null) return { ...result, snapshot };
  return { version: snapshot.version, rules: snapshot.rules, snapshot };
}

/**
 * The versions an `If-Match` header accepts: null when absent or `*` (any).
 * Tags as GET answers them (`"7"`); weak tags never match, as RFC 9110 says.
 */
function ifMatch(headers: IncomingHttpHeaders): number[] | null {
  const header = headers['if-match'];
  if (header === undefined || header.trim() === '*') return null;
  return header.split(',').map((tag) => {
    const match = /^"(\d{1,10})"$/.exec(tag.trim());
    const version = Number(match?.[1]);
    if (match === null || version < 1 || version > config_version_max) {
      throw new KopilkaError(
        'invalid_field',
        'if-match must be the ETag of a version, e.g. "7" with the quotes (from any GET of the rules), or *',
        'if-match',
      );
    }
    return version;
  });
}

async function putItem(request: RouteRequest, collection: RulesCollection, noun: string): Promise<RouteReply> {
  const wanted = request.params[0] ?? '';
  const item = withPathId(request.body, wanted);
  let created = false;
  const changed = await changeRules(request, (rules) => {
    const edit = upsert(rules, collection, item);
    created = edit.created;
    return edit.next;
  });
  const stored = findById<{ id: string }>(changed.rules[collection], wanted);
  return reply(created ? 201 : 200, changed.version, { [noun]: stored }, changed.snapshot);
}

async function putSection(request: RouteRequest, section: 'settings' | 'catalog'): Promise<RouteReply> {
  const body = jsonObject(request.body);
  const changed = await changeRules(request, (rules) => ({ ...rules, [section]: body }));
  return reply(200, changed.version, { [section]: changed.rules[section] }, changed.snapshot);
}

async function deletePeriod(request: RouteRequest): Promise<RouteReply> {
  const wanted = request.params[0] ?? '';
  let deleted: unknown;
  const changed = await changeRules(request, (rules) => {
    deleted = findById(rules.periods, wanted);
    if (deleted === undefined) throw new KopilkaError('not_found', `period ${wanted} does not exist`);
    return withoutPeriod(rules, wanted);
  });
  return reply(200, changed.version, { period: deleted }, changed.snapshot);
}

/** Archived promotions stay in the document (history, explanations); archiving twice changes nothing. */
async function archivePromotion(request: RouteRequest): Promise<RouteReply> {
  const wanted = request.params[0] ?? '';
  const changed = await changeRules(request, (rules) => {
    const promotion = findById(rules.promotions, wanted);
    if (promotion === undefined) throw new KopilkaError('not_found', `promotion ${wanted} does not exist`);
    if (promotion.status === 'archived') return null;
    return upsert(rules, 'promotions', { ...promotion, status: 'archived' }).next;
  });
  return reply(200, changed.version, { promotion: findById(changed.rules.promotions, wanted) }, changed.snapshot);
}

// --- Simulation ----------------------------------------------------------------

/**
 * Evaluates a check against the published rules (compiled once per version) or
 * a draft document, in the organization's time zone unless the check names its
 * outlet's: the full Evaluation, explanations included. Reads only.
 */
async function simulate({ sql, body, compiledRules }: RouteRequest): Promise<RouteReply> {
  const request = body as SimulateRequest;
  const snapshot = await published(sql);
  const timeZone = snapshot.organization.timeZone;
  const options = { timeZone, version: snapshot.version, includeDrafts: request.includeDrafts };
  const rules = request.draft === null ? compiledRules.get(snapshot, request.includeDrafts) : compileRules(request.draft, options);
  const evaluation = evaluate(rules, { time: request.time, check: request.check, guest: request.guest });
  // No ETag: the answer is about a check, not a version of the configuration.
  const answer = {
    version: snapshot.version,
    draft: request.draft !== null,
    at: new Date(request.time).toISOString(),
    timeZone: request.check.timeZone ?? timeZone,
    evaluation,
  };
  return { status: 200, body: answer };
}
