// Guests and their cards, on the write side: registration, profile changes, binding,
// blocking and unblocking cards, issuing payment codes. Every method runs inside
// the shard's LMDB write transaction and checks everything before its first write,
// so a refusal leaves nothing behind. Nothing is kept in memory: all of it is in the
// `guests`, `cards`, `phones` and `payment-codes` databases, which every shard shares.
//
// Who decides a race. The doors route a register that carries a phone by the phone
// (to the shard of the guest holding it, else by the phone's hash), so two registers
// with one new phone meet in one shard, and the second binds its card to the guest the
// first created (`card_added`). The phone and card indexes are read and written inside
// write transactions, and LMDB runs one write transaction at a time across every
// thread of the environment, so uniqueness of a card and of a phone is exact even
// between shards. One case binds a card to a guest of another shard: a register
// routed by the phone's hash while an updateGuest gives that phone to a guest of
// another shard. That is safe here because a shard keeps no guest data in memory
// (the journal counter and system balances are untouched by cards and profiles), and
// stays exact because the two writes are serialized; with a merge's phase 1, which
// re-points the cards of the guest merged away and lists them in the profile of the
// guest who stays (engine/guest-merge.ts), these are the only writes a shard makes to
// a guest it does not own, and never to its balance or journal.

import assert from 'node:assert';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import { guest_cards_max, payment_code_ttl_ms } from '../protocol/limits.js';
import type {
  AddCardRequest,
  AddCardResult,
  BlockCardRequest,
  BlockCardResult,
  CardKind,
  PaymentCodeRequest,
  PaymentCodeResult,
  RegisterRequest,
  RegisterResult,
  UnblockCardRequest,
  UnblockCardResult,
  UpdateGuestRequest,
  UpdateGuestResult,
} from '../protocol/types.js';
import { assertUsable, checkCardMasks, readCard } from './cards.js';
import { guestMergedError } from './guest-merge.js';
import { newProfile, phoneKeyOf, profileView, withDiscounts, withFields } from './guest-profile.js';
import { issuePaymentCode } from './payment-codes.js';
import { type CardRecord, type GuestProfile, type Store, metaGuestCounter } from './store.js';
import { emptyAccount } from './points-account.js';

export interface GuestRegistryOptions {
  /** Life of a payment code, ms; default payment_code_ttl_ms (5 minutes). Tests shorten it. */
  paymentCodeTtlMs?: number;
}

export class GuestRegistry {
  private readonly paymentCodeTtlMs: number;

  constructor(
    private readonly store: Store,
    private readonly shard: number,
    private readonly config: () => ConfigSnapshot,
    private readonly clock: () => number = Date.now,
    options: GuestRegistryOptions = {},
  ) {
    const ttl = options.paymentCodeTtlMs ?? payment_code_ttl_ms;
    if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new TypeError('options.paymentCodeTtlMs must be a positive integer (ms)');
    this.paymentCodeTtlMs = ttl;
  }

  // ---- register ----------------------------------------------------------------------

  /**
   * In order: a card already bound answers `exists` (whoever holds it, nothing
   * changes); a phone already held binds the card to that guest (`card_added`, the
   * request's profile fields not applied); else a new guest of this shard, with the
   * discount levels given. A level for an account that is not a discount account of the
   * configuration is refused (`invalid_field` naming `discounts.<id>`) before any write.
   */
  register(req: RegisterRequest, createdAt: string): RegisterResult {
    const existing = readCard(this.store, req.card);
    if (existing !== undefined) return { outcome: 'exists', guestId: existing.guestId, card: req.card };
    const kind = req.kind ?? 'plastic';
    checkCardMasks(this.config(), req.card, kind, 'card');
    // Refused as updateGuest refuses them, before anything is written, even when the card
    // then goes to the phone's guest (whose profile the request does not change).
    const { outlet: _outlet, card: _card, kind: _kind, discounts, ...fields } = req;
    const known = discounts === undefined ? undefined : this.discountAccounts(discounts);
    const phoneKey = req.phone === undefined ? undefined : phoneKeyOf(req.phone);
    const holder = phoneKey === undefined ? undefined : this.store.phones.get(phoneKey);
    if (holder !== undefined) {
      const profile = this.profileOf(holder, 'card');
      this.bind(profile, req.card, kind, createdAt, 'card');
      return { outcome: 'card_added', guestId: holder, card: req.card };
    }
    const counterKey = metaGuestCounter(this.shard);
    const n = ((this.store.meta.get(counterKey) as number | undefined) ?? 0) + 1;
    const guestId = `${this.shard}-${n}`;
    const profile = newProfile(guestId, req.card, createdAt, fields);
    this.store.meta.putSync(counterKey, n);
    this.store.guests.putSync(guestId, discounts === undefined || known === undefined ? profile : withDiscounts(profile, discounts, known));
    this.store.states.putSync(guestId, { seq: 0, lastTx: 0, holdSeq: 0, points: emptyAccount() });
    this.store.cards.putSync(req.card, { guestId, kind, status: 'active', issuedAt: createdAt });
    if (phoneKey !== undefined) this.store.phones.putSync(phoneKey, guestId);
    return { outcome: 'ok', guestId, card: req.card };
  }

  // ---- profile -----------------------------------------------------------------------

  /**
   * Applies the fields given (last write wins); a phone held by another guest changes
   * nothing. Discount levels must name discount accounts of the configuration.
   */
  updateGuest(guestId: string, req: UpdateGuestRequest): UpdateGuestResult {
    const profile = this.profileOf(guestId, 'card');
    this.usableCardOf(guestId, req.card);
    const { outlet: _outlet, card: _card, discounts, ...fields } = req;
    const known = discounts === undefined ? undefined : this.discountAccounts(discounts);
    if (fields.phone !== undefined) {
      const oldKey = profile.phone === '' ? undefined : phoneKeyOf(profile.phone);
      const newKey = fields.phone === '' ? undefined : phoneKeyOf(fields.phone);
      const holder = newKey === undefined ? undefined : this.store.phones.get(newKey);
      if (holder !== undefined && holder !== guestId) return { outcome: 'phone_taken', guestId, ...profileView(profile) };
      if (oldKey !== undefined && oldKey !== newKey && this.store.phones.get(oldKey) === guestId) this.store.phones.removeSync(oldKey);
      if (newKey !== undefined && holder === undefined) this.store.phones.putSync(newKey, guestId);
    }
    const changed = withFields(profile, fields);
    const next = discounts === undefined || known === undefined ? changed : withDiscounts(changed, discounts, known);
    this.store.guests.putSync(guestId, next);
    return { outcome: 'ok', guestId, ...profileView(next) };
  }

  /** The configuration's discount accounts; refuses a level for any other account, before anything is written. */
  private discountAccounts(levels: Readonly<Record<string, number>>): ReadonlySet<string> {
    const accounts = this.config().rules.accounts;
    const known = new Set(accounts.filter((a) => a.unit === 'percent').map((a) => a.id));
    for (const id of Object.keys(levels)) {
      if (known.has(id)) continue;
      const list = known.size === 0 ? 'the configuration has none' : `known: ${[...known].join(', ')}`;
      throw new KopilkaError('invalid_field', `discounts.${id} must name a discount account (unit "percent") of the rules; ${list}`, `discounts.${id}`);
    }
    return known;
  }

  // ---- cards -------------------------------------------------------------------------

  /**
   * Binds `newCard` to the guest holding `card`. A retry (the new card already this
   * guest's) answers `exists` even once `card` has been replaced by it; otherwise
   * `card` must be active.
   */
  addCard(guestId: string, req: AddCardRequest, issuedAt: string): AddCardResult {
    const presented = this.cardOf(guestId, req.card);
    const existing = readCard(this.store, req.newCard);
    if (existing !== undefined && existing.guestId === guestId) {
      return { outcome: 'exists', guestId, card: req.newCard, kind: existing.kind, replaced: [] };
    }
    assertUsable(presented);
    if (existing !== undefined) return { outcome: 'card_taken', guestId, card: req.newCard, kind: req.kind, replaced: [] };
    checkCardMasks(this.config(), req.newCard, req.kind, 'newCard');
    const replaced = this.bind(this.profileOf(guestId, 'card'), req.newCard, req.kind, issuedAt, 'newCard');
    return { outcome: 'ok', guestId, card: req.newCard, kind: req.kind, replaced };
  }

  blockCard(guestId: string, req: BlockCardRequest): BlockCardResult {
    const record = this.cardOf(guestId, req.card);
    if (record.status === 'replaced') assertUsable(record);
    if (record.status === 'blocked') return { outcome: 'already_blocked', guestId, card: req.card, status: 'blocked' };
    this.store.cards.putSync(req.card, { ...record, status: 'blocked', blockReason: req.reason });
    return { outcome: 'ok', guestId, card: req.card, status: 'blocked' };
  }

  unblockCard(guestId: string, req: UnblockCardRequest): UnblockCardResult {
    const record = this.cardOf(guestId, req.card);
    if (record.status === 'replaced') assertUsable(record);
    if (record.status === 'active') return { outcome: 'not_blocked', guestId, card: req.card, status: 'active' };
    const { blockReason: _reason, ...rest } = record;
    this.store.cards.putSync(req.card, { ...rest, status: 'active' });
    return { outcome: 'ok', guestId, card: req.card, status: 'active' };
  }

  // ---- payment codes -----------------------------------------------------------------

  paymentCode(guestId: string, req: PaymentCodeRequest): PaymentCodeResult {
    this.usableCardOf(guestId, req.card);
    const issued = issuePaymentCode(this.store, this.shard, guestId, req.card, this.clock(), this.paymentCodeTtlMs);
    return { guestId, code: issued.code, expiresAt: new Date(issued.expiresAt).toISOString() };
  }

  // ---- helpers -----------------------------------------------------------------------

  /**
   * Binds a new card to the guest: its record, the profile's card list, and, with the
   * organization's `newCardReplacesOthers`, the guest's other active cards marked
   * `replaced`. Returns those cards.
   */
  private bind(profile: GuestProfile, card: string, kind: CardKind, issuedAt: string, field: string): string[] {
    if (profile.cards.length >= guest_cards_max) {
      throw new KopilkaError('invalid_field', `${field} cannot be bound: the guest holds ${guest_cards_max} cards, the most allowed`, field);
    }
    const replaced: string[] = [];
    if (this.config().organization.newCardReplacesOthers === true) {
      for (const other of profile.cards) {
        const r = readCard(this.store, other);
        if (r === undefined || r.guestId !== profile.id || r.status !== 'active') continue;
        this.store.cards.putSync(other, { ...r, status: 'replaced' });
        replaced.push(other);
      }
    }
    this.store.cards.putSync(card, { guestId: profile.id, kind, status: 'active', issuedAt });
    this.store.guests.putSync(profile.id, { ...profile, cards: [...profile.cards, card] });
    return replaced;
  }

  private profileOf(guestId: string, field: string): GuestProfile {
    const profile = this.store.guests.get(guestId);
    if (profile === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', field);
    assert.equal(profile.id, guestId, 'a profile is stored under its own id');
    return profile;
  }

  /**
   * The card's record, read again inside the write transaction: the doors resolved it
   * from committed state, and it must still be this guest's.
   */
  private cardOf(guestId: string, card: string): CardRecord {
    const record = readCard(this.store, card);
    if (record === undefined || record.guestId !== guestId) {
      // Cards move only by merges: the engine sends the request again for the guest who stays.
      const mergedInto = this.store.states.get(guestId)?.mergedInto;
      if (mergedInto !== undefined) throw guestMergedError(guestId, mergedInto);
      throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
    }
    return record;
  }

  private usableCardOf(guestId: string, card: string): CardRecord {
    const record = this.cardOf(guestId, card);
    assertUsable(record);
    return record;
  }
}
