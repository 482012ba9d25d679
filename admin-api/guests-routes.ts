// The guest routes: an operator looks a guest up, corrects their points, puts
// money on their deposit. Each builds the protocol request a door would take
// (outlet "admin", the route's author as the operator) and checks it with the
// protocol's own validator, so limits and messages are the doors'; then the
// engine runs it (engine-client.ts). Outcomes are values: `exists`,
// `insufficient_points`, … answer 200 like `ok`. Errors keep the engine's codes.

import { KopilkaError } from '../protocol/errors.js';
import type { Op, Operations } from '../protocol/types.js';
import { VALIDATORS } from '../protocol/validate.js';
import { admin_outlet_id } from './engine-client.js';
import { guest_history_limit_default } from './limits.js';
import type { BodyCheck } from './request-schemas.js';
import type { Route, RouteReply, RouteRequest } from './routes.js';

const card = '([^/]+)';

export const guestsRoutes: readonly Route[] = [
  { method: 'GET', path: new RegExp(`^/v1/guests/${card}$`), schema: null, handle: getGuest },
  {
    method: 'POST',
    path: new RegExp(`^/v1/guests/${card}/adjustments$`),
    schema: onlyFields(['idempotencyKey', 'points', 'reason']),
    handle: postAdjustment,
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/guests/${card}/top-ups$`),
    schema: onlyFields(['idempotencyKey', 'account', 'amount']),
    handle: postTopUp,
  },
];

/** The balance view: points, deposits and counters (`accounts`), the last transactions. */
async function getGuest({ params, query, operations }: RouteRequest): Promise<RouteReply> {
  const draft: Record<string, unknown> = {
    outlet: admin_outlet_id,
    card: params[0],
    limit: queryNumber(query, 'limit') ?? guest_history_limit_default,
  };
  const expiring = queryNumber(query, 'expiringWithinDays');
  if (expiring !== undefined) draft.expiringWithinDays = expiring;
  return run(operations, 'balance', draft);
}

/** Points added (> 0) or taken (< 0), journalled as an `adjustment` with its reason and the author. */
async function postAdjustment({ params, body, author, operations }: RouteRequest): Promise<RouteReply> {
  const { idempotencyKey, points, reason } = body as Record<string, unknown>;
  return run(operations, 'adjust', { outlet: admin_outlet_id, idempotencyKey, card: params[0], points, reason, operator: author });
}

/** Money put on one of the guest's deposits, journalled as a `top_up` taken by the author. */
async function postTopUp({ params, body, author, operations }: RouteRequest): Promise<RouteReply> {
  const { idempotencyKey, account, amount } = body as Record<string, unknown>;
  return run(operations, 'topUp', { outlet: admin_outlet_id, idempotencyKey, card: params[0], account, amount, operator: author });
}

/**
 * Validates the protocol request `draft` as every door does and runs it. The
 * protocol names a field as the request does; the one the route takes from
 * elsewhere (the operator, from x-kopilka-author) is renamed to where it came from.
 */
async function run<O extends Op>(operations: RouteRequest['operations'], op: O, draft: Record<string, unknown>): Promise<RouteReply> {
  try {
    const request: Operations[O]['request'] = VALIDATORS[op](draft);
    return { status: 200, body: await operations(op, request) };
  } catch (err) {
    throw inRouteTerms(err);
  }
}

/** Protocol fields a route's caller knows by another name. */
const ROUTE_NAMES: Readonly<Record<string, string>> = { operator: 'x-kopilka-author' };

function inRouteTerms(err: unknown): unknown {
  if (!(err instanceof KopilkaError) || err.field === undefined) return err;
  const name = ROUTE_NAMES[err.field];
  if (name === undefined) return err;
  // Protocol messages open with the field's name ("operator must be …").
  const message = err.message.startsWith(`${err.field} `) ? `${name}${err.message.slice(err.field.length)}` : err.message;
  return new KopilkaError(err.code, message, name);
}

/**
 * A number from the query string, for the protocol validator to judge. Text that
 * is not an integer goes as it is, so the answer is the validator's own
 * "limit must be an integer".
 */
function queryNumber(query: URLSearchParams, name: string): unknown {
  const raw = query.get(name);
  if (raw === null) return undefined;
  return /^-?\d{1,15}$/.test(raw) ? Number(raw) : raw;
}

/** A body that is a JSON object of these fields at most; the protocol validator judges their values. */
function onlyFields(fields: readonly string[]): BodyCheck {
  const known = new Set(fields);
  return (body) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new KopilkaError('bad_request', 'the body must be a JSON object');
    }
    for (const field of Object.keys(body)) {
      if (!known.has(field)) {
        throw new KopilkaError('invalid_field', `${field} is not a known field: remove it (known: ${fields.join(', ')})`, field);
      }
    }
    return body;
  };
}
