// Cards: their records, whether one may be used, the organization's number masks,
// and how a request's `card` field finds its guest on the doors' thread.
//
//   const found = resolveCard(store, body.card, Date.now(), 'active');
//   // undefined: no such card (or an expired code); throws card_blocked / card_replaced
//
// The `cards` database maps a card number to a CardRecord in one read: the guest
// (hence its shard, named by the guest id) and the status together. Records stored
// before cards had kinds are the guest id alone; `readCard` reads them as active
// plastic cards.

import type { ConfigSnapshot, OrganizationConfig } from '../protocol/config.js';
import { isPaymentCode } from '../protocol/card-numbers.js';
import { KopilkaError } from '../protocol/errors.js';
import { card_mask_chars_max, card_masks_max } from '../protocol/limits.js';
import type { CardKind, CardView } from '../protocol/types.js';
import { lookupPaymentCode } from './payment-codes.js';
import type { CardRecord, GuestProfile, Store } from './store.js';

/** The record of a card, whichever way it was stored. */
export function readCard(store: Store, card: string): CardRecord | undefined {
  const v = store.cards.get(card);
  if (v === undefined) return undefined;
  return typeof v === 'string' ? { guestId: v, kind: 'plastic', status: 'active', issuedAt: '' } : v;
}

/** Refuses a card that is not active, naming `field`: blocked until unblocked, replaced for good. */
export function assertUsable(record: CardRecord, field = 'card'): void {
  if (record.status === 'blocked') throw new KopilkaError('card_blocked', 'the card is blocked; unblockCard makes it usable again', field);
  if (record.status === 'replaced') throw new KopilkaError('card_replaced', "the card was replaced by another of the guest's cards", field);
}

/** The guest's cards as answers show them, in binding order. */
export function cardViews(store: Store, profile: GuestProfile | undefined): CardView[] {
  const out: CardView[] = [];
  for (const card of profile?.cards ?? []) {
    const r = readCard(store, card);
    // A card moved to another guest (never done today) is no longer this guest's.
    if (r === undefined || r.guestId !== profile!.id) continue;
    out.push({ card, kind: r.kind, status: r.status, issuedAt: r.issuedAt });
  }
  return out;
}

// ---- resolving a request's card ------------------------------------------------------

/** `active`: refuse blocked and replaced cards here; `any`: the shard decides (blockCard, unblockCard, addCard). */
export type CardUse = 'active' | 'any';

export interface ResolvedCard {
  guestId: string;
  /** The card as stored: a payment code's card, an RFID UID in upper case. */
  card: string;
  record: CardRecord;
}

const HEX8 = /^[0-9a-fA-F]{8}$/;

/**
 * The card a request's `card` field names, on the doors' thread: one LMDB read for a
 * card number; for a payment code (`P` + 8 digits) the code's record, then its card's
 * (a code stands for its card: blocking the card stops the code too). An 8-hex number
 * not found as given is looked up in upper case, as RFID UIDs are kept. Undefined when
 * nothing matches or the code has expired.
 */
export function resolveCard(store: Store, presented: string, now: number, use: CardUse): ResolvedCard | undefined {
  let card = presented;
  let guestId: string | undefined;
  if (isPaymentCode(presented)) {
    const code = lookupPaymentCode(store, presented, now);
    if (code === undefined) return undefined;
    card = code.card;
    guestId = code.guestId;
  }
  const found = storedCard(store, card);
  if (found === undefined || (guestId !== undefined && found.record.guestId !== guestId)) return undefined;
  if (use === 'active') assertUsable(found.record);
  return { guestId: found.record.guestId, card: found.card, record: found.record };
}

/**
 * The record of the card a request presents, as the store holds it now, for a shard
 * re-reading it inside a write: as `resolveCard` finds it, except that a payment code is
 * followed whatever its expiry (the doors checked its life; what matters here is its
 * card) and the card's status is left to the caller. Undefined when no card is found.
 */
export function presentedCard(store: Store, presented: string): CardRecord | undefined {
  const card = isPaymentCode(presented) ? store.paymentCodes.get(presented)?.card : presented;
  return card === undefined ? undefined : storedCard(store, card)?.record;
}

/** A card number's record and the number as stored: as given, else an 8-hex number in upper case (as RFID UIDs are kept). */
function storedCard(store: Store, card: string): { card: string; record: CardRecord } | undefined {
  const record = readCard(store, card);
  if (record !== undefined) return { card, record };
  if (!HEX8.test(card) || card === card.toUpperCase()) return undefined;
  const upper = card.toUpperCase();
  const stored = readCard(store, upper);
  return stored === undefined ? undefined : { card: upper, record: stored };
}

// ---- masks -------------------------------------------------------------------------

const compiled = new WeakMap<OrganizationConfig, RegExp[]>();

function maskPattern(mask: string): RegExp {
  let source = '';
  for (const ch of mask) {
    if (ch === '#') source += '[0-9]';
    else if (ch === 'X') source += '[0-9A-Fa-f]';
    else source += ch.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * The organization's masks compiled once per configuration object; a malformed list
 * throws a TypeError naming it (the engine refuses to serve such a version).
 */
export function cardMasksOf(organization: OrganizationConfig): RegExp[] {
  let patterns = compiled.get(organization);
  if (patterns !== undefined) return patterns;
  const masks = organization.cardMasks ?? [];
  if (!Array.isArray(masks) || masks.length > card_masks_max) {
    throw new TypeError(`organization.cardMasks must be an array of at most ${card_masks_max} masks`);
  }
  patterns = masks.map((m, i) => {
    if (typeof m !== 'string' || m.length === 0 || m.length > card_mask_chars_max) {
      throw new TypeError(`organization.cardMasks[${i}] must be a string of 1..${card_mask_chars_max} characters`);
    }
    return maskPattern(m);
  });
  compiled.set(organization, patterns);
  return patterns;
}

/**
 * Refuses a card number to bind that matches none of the organization's masks, naming
 * `field` and the masks. RFID UIDs have their own rule (protocol/card-numbers.ts) and
 * no masks; no masks at all means any number.
 */
export function checkCardMasks(config: ConfigSnapshot, card: string, kind: CardKind, field: string): void {
  if (kind === 'rfid') return;
  const patterns = cardMasksOf(config.organization);
  if (patterns.length === 0 || patterns.some((p) => p.test(card))) return;
  const masks = config.organization.cardMasks!.map((m) => `"${m}"`).join(', ');
  throw new KopilkaError('invalid_field', `${field} must match one of the card masks ${masks} (# a digit, X a hex digit)`, field);
}
