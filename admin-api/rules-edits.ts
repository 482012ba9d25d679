// Edits of the promotions configuration, pure: each takes the current document
// and a request body and returns the whole next document, which validateRules
// then checks as one (a promotion names periods and accounts, so no part is
// valid alone). Its errors keep their paths into the whole document
// (`promotions[3].periods[0]`), so the client can find the field it sent.

import { validateRules, type ConfigError } from '../engine/rules/validate.js';
import type { Condition, PromotionConfig, RulesConfig } from '../engine/rules/model.js';
import { KopilkaError, type ErrorBody } from '../protocol/errors.js';

/** The sections of a rules document that are lists of objects with ids. */
export type RulesCollection = 'periods' | 'accounts' | 'partners' | 'promotions';

/** The error body of a refused rules document: the usual `{ code, message, field }` plus every error found. */
export interface RulesErrorBody extends ErrorBody {
  errors: ConfigError[];
}

/**
 * The rules validator refused a document: `invalid_field` (400), `field` the
 * path of the first error, `errors` all of them (up to config_errors_max) with
 * their paths into the rules document.
 */
export class RulesInvalidError extends KopilkaError {
  readonly errors: ConfigError[];

  /** `prefix` names where the document sits in the request ("draft"); empty when it is the whole subject. */
  constructor(errors: ConfigError[], prefix = '') {
    const first = errors[0] ?? { path: '', message: 'is not a valid rules configuration' };
    const field = [prefix, first.path].filter((p) => p !== '').join('.');
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more: see errors)` : '';
    super('invalid_field', `${field === '' ? 'the rules configuration' : field} ${first.message}${more}`, field === '' ? undefined : field);
    this.errors = errors;
  }

  override toBody(): RulesErrorBody {
    return { ...super.toBody(), errors: this.errors };
  }
}

/** The document validateRules makes of `candidate`, or RulesInvalidError with every error. */
export function checkRules(candidate: unknown, prefix = ''): RulesConfig {
  const checked = validateRules(candidate);
  if (!checked.ok) throw new RulesInvalidError(checked.errors, prefix);
  return checked.config;
}

/**
 * The body of a PUT to `/…/:id`, with the id of the path: a body may leave the
 * id out, and must not name another (the path says which object is replaced).
 */
export function withPathId(body: unknown, id: string): Record<string, unknown> & { id: string } {
  const object = jsonObject(body);
  if (Object.prototype.hasOwnProperty.call(object, 'id') && object.id !== id) {
    throw new KopilkaError(
      'invalid_field',
      `id must be the id in the path ("${id}") or be left out; to rename, create the new id and archive or delete the old one`,
      'id',
    );
  }
  return { ...object, id };
}

export function jsonObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KopilkaError('bad_request', 'the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/**
 * The document with `item` in `collection`: in place of the object with its id
 * (its position, and so its rank among equals, kept), else appended.
 */
export function upsert<T extends { id: string }>(rules: RulesConfig, collection: RulesCollection, item: T): { next: unknown; created: boolean } {
  const list: ReadonlyArray<{ id: string }> = rules[collection];
  const at = list.findIndex((x) => x.id === item.id);
  const items: unknown[] = at === -1 ? [...list, item] : list.map((x, i) => (i === at ? item : x));
  return { next: { ...rules, [collection]: items }, created: at === -1 };
}

export function findById<T extends { id: string }>(list: readonly T[], id: string): T | undefined {
  return list.find((x) => x.id === id);
}

/** Promotions that name a period, in their periods or anywhere in their condition. */
export function promotionsUsingPeriod(rules: RulesConfig, period: string): PromotionConfig[] {
  return rules.promotions.filter((p) => p.periods.includes(period) || (p.condition !== null && conditionNames(p.condition, period)));
}

function conditionNames(c: Condition, period: string): boolean {
  switch (c.kind) {
    case 'all':
    case 'any':
      return c.of.some((x) => conditionNames(x, period));
    case 'not':
      return conditionNames(c.of, period);
    case 'period':
      return c.period === period;
    default:
      return false;
  }
}

/** The document without the period; refused while a promotion names it. */
export function deletePeriod(rules: RulesConfig, id: string): unknown {
  const users = promotionsUsingPeriod(rules, id);
  const live = users.filter((p) => p.status !== 'archived');
  if (live.length > 0) {
    throw new KopilkaError(
      'conflict',
      `period ${id} is in use by ${describeAll(live)}: remove it from their periods and conditions, or archive them, first`,
    );
  }
  if (users.length > 0) {
    // An archived promotion is kept as it was, for history and explanations, and
    // a kept promotion must still validate and compile: its periods stay too.
    throw new KopilkaError(
      'conflict',
      `period ${id} is named by ${describeAll(users)}, kept as they were for history and explanations: the period stays while they do`,
    );
  }
  return { ...rules, periods: rules.periods.filter((p) => p.id !== id) };
}

function describeAll(promotions: readonly PromotionConfig[]): string {
  const shown = promotions.slice(0, 10).map((p) => `${p.id} (${p.status})`);
  const more = promotions.length > shown.length ? ` and ${promotions.length - shown.length} more` : '';
  return `promotion${promotions.length === 1 ? '' : 's'} ${shown.join(', ')}${more}`;
}
