// Merging two guests: the cards, points, deposits, counters and the profile's gaps of the
// guest merged away ("from") move to the guest who stays ("into"); nothing is lost, and
// nothing moves twice, even when the two live in different shards (different threads).
//
//   engine (doors' thread)          from's shard (phase 1)             into's shard (phase 2)
//   merge {card, from} ──────────▶  one write transaction: ─────────▶  mergeIn {mergeId}: one
//                                    key, holds voided, lots,           write transaction: lots,
//                                    deposits, counters to transit,     deposits, counters from
//                                    cards re-pointed, transfer `out`   transit, profile gaps,
//                                                                       transfer `done` ──▶ answer
//
// Why two phases and not one transaction: every shard is the only writer of its guests'
// states, journal and system accounts, and keeps its journal counter and system balances
// in memory (guest-actor.ts `nextJournalNumber`, `inBatch`); another thread writing them
// would break both. What crosses between shards is a transfer record, written in the same
// transaction as phase 1, and two transit accounts per ledger (`transit`, `transit:<a>`):
// phase 1 posts everything of the from guest to its shard's transit accounts, phase 2 posts
// it out of the into shard's, so each ledger sums to zero at every moment, and the transit
// accounts of all shards together hold exactly what transfers still `out` hold (verify.ts).
//
// What makes it exact:
// - Phase 1 and phase 2 are each one write transaction; the transfer's status (`out` →
//   `done`) changes in phase 2's, so a transfer lands once whoever asks for it: the
//   engine's `mergeIn` after phase 1, a retry of the same key, the shard's recovery at
//   attach and at every expiry sweep (for a process that died between the phases), or
//   phase 1 of a later merge of the into guest itself.
// - The cards and phones databases are global, and LMDB runs one write transaction at a
//   time across every thread: re-pointing all of the from guest's cards inside phase 1 is
//   atomic against every other shard's reads and writes of them. A card therefore always
//   names a guest that has not been merged away.
// - A guest receives its transfers before it is merged away itself (phase 1 lands every
//   `out` transfer into the from guest first: they are in its own shard), so phase 2
//   always finds its into guest alive, and a chain of merges moves everything to the end.
// - A request resolved to the from guest before phase 1 and arriving after it is refused
//   with `guest_merged` before any write (guest-actor.ts `touch`, guest-registry.ts); the
//   engine sends it again for the guest its card names now. A concurrent commit therefore
//   lands on the from guest and moves with the merge, or lands on the into guest.
//
// A guest is merged away once (its transfer is `<guest>.m1`): from then on no card names
// it, so a later merge naming one of its cards merges the guest that card now names (or
// answers `same_guest`), and a merge already on its way to it is sent again the same way.
// The into guest's holds stay open; a debt that moves in may leave them more than it has
// available, and posting one then answers `insufficient_points`, as after a refund's debt.
//
// What stays behind, on purpose:
// - The from guest's journal, with a last entry `merge_out`; its state, empty for good and
//   marked `mergedInto` (deposits kept at 0, so their ledgers still name it); its profile,
//   without cards, as the record of who it was.
// - Its holds are voided in phase 1 (the held points were not spent: they move with the
//   balance). A commit posting one later is routed by its card to the into guest, whose
//   hold it is not: `hold_not_found`; a cancel of one answers `hold_already_resolved`.
// - Its checks stay in its shard's journal. A refund of one after the merge is refused
//   with the outcome `guest_merged` (remembered under the refund's key): the points and
//   deposit money to reverse now live with the into guest, possibly in another shard, and
//   reversing across shards would need a transfer of its own. Adjust the into guest instead.
// - Its promotions' usage windows and discount counts stay with it (they count uses per
//   guest and per window; the into guest keeps its own). Its payment codes stop working.
//
// Discount levels (the profile's `discounts`) merge account by account in phase 2: the
// into guest keeps its own level in each account it has one in (a 0 included), and takes
// the from guest's level in each account it has none in. A level is a property of the
// guest's card program, not a balance: summing or taking the higher would give the guest
// who stays a level nobody granted it.

import assert from 'node:assert';
import type { ConfigSnapshot } from '../protocol/config.js';
import { KopilkaError } from '../protocol/errors.js';
import { guest_cards_max } from '../protocol/limits.js';
import type { MergeOutcome, MergeRequest, MergeResult } from '../protocol/types.js';
import { assertUsable, readCard } from './cards.js';
import type { JournalEntry } from './guest-actor.js';
import { phoneKeyOf } from './guest-profile.js';
import { readState } from './guest-reader.js';
import { type Lot, type PointsAccount, credit, emptyAccount, expire, takeBack } from './points-account.js';
import type { MergeInRequest } from './shard-messages.js';
import {
  type GuestProfile,
  type GuestState,
  type HoldRecord,
  type MergeKeyRecord,
  type MergeRecord,
  type Posting,
  type Store,
  depositAccount,
  guestAccount,
  guestShard,
  mergeIdOf,
} from './store.js';

export type { MergeInRequest };

/**
 * Transfers one recovery transaction lands: recovery runs before a shard serves (at
 * attach) and in its sweep, and one bounded transaction keeps either from stalling the
 * shard; a full batch is followed at once by the next.
 */
export const merges_landed_per_transaction_max = 1_000;

/** What the merge functions may do in a shard: its actor's journal, holds and expiry agenda. */
export interface MergeHost {
  readonly store: Store;
  readonly shard: number;
  config(): ConfigSnapshot;
  /** The guest's state with time's effects applied and written (expired lots burnt, stale holds gone). */
  touch(guestId: string, now: number): GuestState;
  append(guestId: string, state: GuestState, now: number, entry: JournalEntry): GuestState;
  resolveHold(holdId: string, status: HoldRecord['status']): void;
  scheduleExpiry(guestId: string, expiresAt: number): void;
  nextJournalNumber(): number;
}

export function guestMergedError(guestId: string, into: string): KopilkaError {
  return new KopilkaError('guest_merged', `guest ${guestId} was merged into ${into}; send the request again`);
}

// ---- phase 1: in the shard of the guest merged away ----------------------------------

/**
 * Phase 1 of `merge`, inside the from shard's write transaction, for the guest the doors
 * resolved `req.from` to. In order: the key seen before answers (and lands its transfer if
 * it is still `out` and its into guest is here); the cards are read again (the doors read
 * them from committed state) and must be active; one guest on both sides is `same_guest`;
 * then the writes. Same-shard merges land in the same transaction.
 */
export function mergeOut(host: MergeHost, fromGuestId: string, req: MergeRequest, now: number): MergeResult {
  const { store } = host;
  const key: [string, string] = [req.outlet, req.idempotencyKey];
  const seen = store.mergeKeys.get(key);
  if (seen !== undefined) return replay(host, seen, req, now);

  const fromCard = readCard(store, req.from);
  if (fromCard === undefined || fromCard.guestId !== fromGuestId) {
    // Cards move only by merges: the guest the doors found has been merged away since.
    const mergedInto = store.states.get(fromGuestId)?.mergedInto;
    if (mergedInto !== undefined) throw guestMergedError(fromGuestId, mergedInto);
    throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'from');
  }
  assertUsable(fromCard, 'from');
  const intoCard = readCard(store, req.card);
  if (intoCard === undefined) throw new KopilkaError('card_not_found', 'the card belongs to no guest', 'card');
  assertUsable(intoCard, 'card');
  const into = intoCard.guestId;
  if (into === fromGuestId) {
    const result: MergeResult = { outcome: 'same_guest', mergeId: '', guestId: into, balance: readState(store, into).points.balance, cardsMoved: 0 };
    // Remembered like a refused commit: the same key and body answer the same again.
    store.mergeKeys.putSync(key, { card: req.card, from: req.from, fromGuestId, result });
    return result;
  }
  const fromProfile = profileOf(store, fromGuestId);
  const intoProfile = profileOf(store, into);
  const moving = fromProfile.cards.filter((c) => readCard(store, c)?.guestId === fromGuestId);
  if (intoProfile.cards.length + moving.length > guest_cards_max) {
    throw new KopilkaError(
      'invalid_field',
      `from cannot be merged: the two guests hold ${intoProfile.cards.length + moving.length} cards together, more than the ${guest_cards_max} one guest may hold`,
      'from',
    );
  }

  // Writes from here on; every refusal is above.
  landIncoming(host, fromGuestId, now);
  const record = moveOut(host, fromGuestId, into, req, moving, now);
  reassignCards(store, fromGuestId, into, moving);
  store.mergeKeys.putSync(key, { card: req.card, from: req.from, fromGuestId, result: answerOf(record, 'ok') });
  const landed = guestShard(into) === host.shard ? land(host, record.mergeId, now) : record;
  return answerOf(landed, 'ok');
}

/** The same key again: the first answer, or which field differs; a transfer still `out` lands if its guest is here. */
function replay(host: MergeHost, seen: MergeKeyRecord, req: MergeRequest, now: number): MergeResult {
  let outcome: MergeOutcome = 'exists';
  if (seen.card !== req.card) outcome = 'exists_with_different_card';
  else if (seen.from !== req.from) outcome = 'exists_with_different_from';
  // A refused first attempt answers with its refusal again: a failed key stays failed.
  if (seen.result.mergeId === '') return outcome === 'exists' ? seen.result : { ...seen.result, outcome };
  let record = host.store.merges.get(seen.result.mergeId);
  assert.ok(record !== undefined, 'a merge key names its transfer');
  if (record.status === 'out' && guestShard(record.into) === host.shard) record = land(host, record.mergeId, now);
  return answerOf(record, outcome);
}

/**
 * Empties the from guest into its shard's transit accounts: one `merge_out` entry, the
 * transfer record and its pending index entry. Its holds are voided first (touch has
 * already burnt what expired and dropped the holds whose time ran out).
 */
function moveOut(host: MergeHost, fromGuestId: string, into: string, req: MergeRequest, moving: string[], now: number): MergeRecord {
  const { store } = host;
  const mergeId = mergeIdOf(fromGuestId);
  assert.equal(store.merges.get(mergeId), undefined, 'a guest is merged away once');
  const state = host.touch(fromGuestId, now);
  assert.equal(state.mergedInto, undefined, 'a guest whose card is live has not been merged away');
  const { points } = state;
  for (const h of points.holds) host.resolveHold(h.id, 'voided');
  if (points.balance >= 0) {
    assert.equal(points.lots.reduce((sum, l) => sum + l.remaining, 0), points.balance, 'lots add up to the balance');
  } else {
    assert.equal(points.lots.length, 0, 'a debt leaves no lots');
  }

  const g = guestAccount(fromGuestId);
  const postings: Posting[] = [];
  if (points.balance > 0) postings.push([g, 'transit', points.balance]);
  else if (points.balance < 0) postings.push(['transit', g, -points.balance]);
  // Deposits (unit money) are ledgers of their own: they move by postings. Count accounts
  // and counters have no ledger: their values move in the record alone.
  const units = new Map(host.config().rules.accounts.map((a) => [a.id, a.unit]));
  const deposits: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const zeroed: Record<string, number> = {};
  for (const [account, value] of Object.entries(state.accounts ?? {})) {
    if (units.get(account) === 'money') {
      // Kept at 0: the deposit's ledger names this guest for good (verify.ts).
      zeroed[account] = 0;
      if (value === 0) continue;
      assert.ok(value > 0, 'a deposit never goes below 0');
      deposits[account] = value;
      postings.push([depositAccount(fromGuestId, account), `transit:${account}`, value]);
    } else if (value !== 0) {
      counts[account] = value;
    }
  }
  const counters: Record<string, number> = {};
  for (const [counter, value] of Object.entries(state.counters ?? {})) if (value !== 0) counters[counter] = value;
  // Points accounts other than the program's move like the program's: their lots (or a
  // debt) through `transit:<a>`, each in its own ledger. Kept empty, as deposits at 0.
  const pointsAccounts: Record<string, { points: number; lots: Lot[] }> = {};
  const emptiedPoints: Record<string, PointsAccount> = {};
  for (const [account, acc] of Object.entries(state.pointsAccounts ?? {})) {
    emptiedPoints[account] = emptyAccount();
    if (acc.balance === 0) continue;
    pointsAccounts[account] = { points: acc.balance, lots: acc.lots };
    const ga = depositAccount(fromGuestId, account);
    postings.push(acc.balance > 0 ? [ga, `transit:${account}`, acc.balance] : [`transit:${account}`, ga, -acc.balance]);
  }

  const emptied: GuestState = { seq: state.seq, lastTx: state.lastTx, holdSeq: state.holdSeq, points: emptyAccount(), mergedInto: into };
  if (Object.keys(zeroed).length > 0) emptied.accounts = zeroed;
  if (Object.keys(emptiedPoints).length > 0) emptied.pointsAccounts = emptiedPoints;
  const after = host.append(fromGuestId, emptied, now, {
    kind: 'merge_out',
    time: new Date(now).toISOString(),
    outlet: req.outlet,
    idempotencyKey: req.idempotencyKey,
    total: 0,
    spent: 0,
    accrued: points.balance === 0 ? 0 : -points.balance,
    postings,
    mergeId,
  });
  const record: MergeRecord = {
    mergeId,
    from: fromGuestId,
    into,
    status: 'out',
    outlet: req.outlet,
    idempotencyKey: req.idempotencyKey,
    points: points.balance,
    lots: points.lots,
    deposits,
    ...(Object.keys(pointsAccounts).length === 0 ? {} : { pointsAccounts }),
    counts,
    counters,
    holdsVoided: points.holds.map((h) => h.id),
    cardsMoved: moving,
    outTx: `${fromGuestId}.${after.lastTx}`,
    at: now,
  };
  store.merges.putSync(mergeId, record);
  store.pendingMerges.putSync([guestShard(into), into, mergeId], null);
  return record;
}

/**
 * Re-points the from guest's cards (blocked and replaced ones with their status) to the
 * into guest and lists them in its profile, in the same transaction, so that a card never
 * names a guest merged away. The from guest's phone goes to the into guest if it has none
 * (its profile takes it in phase 2), else leaves the index: one guest per phone.
 */
function reassignCards(store: Store, fromGuestId: string, into: string, moving: string[]): void {
  // Read again: landing the from guest's own incoming transfers may have filled its profile.
  const fromProfile = profileOf(store, fromGuestId);
  const intoProfile = profileOf(store, into);
  for (const card of moving) {
    const record = readCard(store, card)!;
    store.cards.putSync(card, { ...record, guestId: into });
  }
  store.guests.putSync(into, { ...intoProfile, cards: [...intoProfile.cards, ...moving] });
  store.guests.putSync(fromGuestId, { ...fromProfile, cards: [] });
  if (fromProfile.phone === '') return;
  const phoneKey = phoneKeyOf(fromProfile.phone);
  if (store.phones.get(phoneKey) !== fromGuestId) return;
  if (intoProfile.phone === '') store.phones.putSync(phoneKey, into);
  else store.phones.removeSync(phoneKey);
}

/**
 * Lands every transfer still `out` into `guestId` (a guest of this shard) before it is
 * merged away itself: what it received moves on with it.
 */
function landIncoming(host: MergeHost, guestId: string, now: number): void {
  const ids: string[] = [];
  for (const k of host.store.pendingMerges.getKeys({ start: [host.shard, guestId, ''], end: [host.shard, guestId, '\uffff'] })) {
    ids.push((k as [number, string, string])[2]);
  }
  for (const id of ids) land(host, id, now);
}

// ---- phase 2: in the shard of the guest who stays ------------------------------------

/** `mergeIn`: lands the transfer if it is still `out`, and answers with `req.outcome`. */
export function completeMerge(host: MergeHost, req: MergeInRequest, now: number): MergeResult {
  return answerOf(land(host, req.mergeId, now), req.outcome);
}

/** Lands up to `limit` transfers still `out` into this shard's guests; returns how many. */
export function completePendingMerges(host: MergeHost, now: number, limit = merges_landed_per_transaction_max): number {
  const ids: string[] = [];
  for (const k of host.store.pendingMerges.getKeys({ start: [host.shard, '', ''], end: [host.shard, '\uffff', ''], limit })) {
    ids.push((k as [number, string, string])[2]);
  }
  for (const id of ids) land(host, id, now);
  return ids.length;
}

/**
 * Phase 2: credits the into guest with what the transfer holds, out of this shard's
 * transit accounts, in one `merge_in` entry, and marks the transfer `done`. A transfer
 * already `done` is returned as it is. Lots keep their activation and expiry (and are put
 * on this shard's expiry agenda); one whose expiry passed while in transit burns at once,
 * in the same entry. A debt takes what the into guest's lots hold, earliest expiry first,
 * and the rest stays a debt, as a refund's would.
 */
function land(host: MergeHost, mergeId: string, now: number): MergeRecord {
  const { store } = host;
  const record = store.merges.get(mergeId);
  assert.ok(record !== undefined, 'a transfer exists for its id');
  if (record.status === 'done') return record;
  assert.equal(guestShard(record.into), host.shard, "a transfer lands in its into guest's shard");
  const into = record.into;
  const state = host.touch(into, now);
  assert.equal(state.mergedInto, undefined, 'a guest receives its transfers before it is merged away');

  const n = host.nextJournalNumber();
  const g = guestAccount(into);
  const postings: Posting[] = [];
  let points = state.points;
  if (record.points > 0) {
    for (const lot of record.lots) points = credit(points, lot.remaining, { n, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
    postings.push(['transit', g, record.points]);
  } else if (record.points < 0) {
    points = takeBack(points, -record.points, -1, 'negative').acc;
    postings.push([g, 'transit', -record.points]);
  }
  const burnt = expire(points, now);
  points = burnt.acc;
  if (burnt.burned > 0) postings.push([g, 'breakage', burnt.burned]);
  const pointsAccounts = landOtherPoints(record, state.pointsAccounts, n, now, postings);

  let accounts = state.accounts;
  for (const [account, amount] of Object.entries(record.deposits)) {
    accounts = { ...accounts, [account]: (accounts?.[account] ?? 0) + amount };
    postings.push([`transit:${account}`, depositAccount(into, account), amount]);
  }
  for (const [account, value] of Object.entries(record.counts)) accounts = { ...accounts, [account]: (accounts?.[account] ?? 0) + value };
  let counters = state.counters;
  for (const [counter, value] of Object.entries(record.counters)) counters = { ...counters, [counter]: (counters?.[counter] ?? 0) + value };

  const next: GuestState = { ...state, points };
  if (pointsAccounts !== undefined) next.pointsAccounts = pointsAccounts;
  if (accounts !== undefined) next.accounts = accounts;
  if (counters !== undefined) next.counters = counters;
  const after = host.append(into, next, now, {
    kind: 'merge_in',
    time: new Date(now).toISOString(),
    outlet: record.outlet,
    idempotencyKey: record.idempotencyKey,
    total: 0,
    spent: 0,
    accrued: record.points - burnt.burned,
    postings,
    mergeId,
  });
  assert.equal(after.lastTx, n, 'the merge_in entry is the journal entry its lots name');
  for (const lot of record.lots) if (lot.expiresAt > now) host.scheduleExpiry(into, lot.expiresAt);
  for (const moved of Object.values(record.pointsAccounts ?? {})) for (const lot of moved.lots) if (lot.expiresAt > now) host.scheduleExpiry(into, lot.expiresAt);
  fillProfileGaps(store, record);
  const done: MergeRecord = { ...record, status: 'done', inTx: `${into}.${n}`, balance: after.points.balance, doneAt: now };
  store.merges.putSync(mergeId, done);
  store.pendingMerges.removeSync([host.shard, into, mergeId]);
  return done;
}

/**
 * Phase 2 for the points accounts other than the program's: each one's lots credited (or
 * its debt taken from the into guest's lots, the rest a debt) out of `transit:<a>`, and
 * what expired in transit burnt, as the program's points land. Pushes the postings;
 * returns the into guest's accounts after (unchanged when the transfer holds none).
 */
function landOtherPoints(
  record: MergeRecord,
  accounts: Record<string, PointsAccount> | undefined,
  n: number,
  now: number,
  postings: Posting[],
): Record<string, PointsAccount> | undefined {
  let out = accounts;
  for (const [account, moved] of Object.entries(record.pointsAccounts ?? {})) {
    const ga = depositAccount(record.into, account);
    let acc = out?.[account] ?? emptyAccount();
    if (moved.points > 0) {
      for (const lot of moved.lots) acc = credit(acc, lot.remaining, { n, activatesAt: lot.activatesAt, expiresAt: lot.expiresAt });
      postings.push([`transit:${account}`, ga, moved.points]);
    } else {
      acc = takeBack(acc, -moved.points, -1, 'negative').acc;
      postings.push([ga, `transit:${account}`, -moved.points]);
    }
    const burnt = expire(acc, now);
    if (burnt.burned > 0) postings.push([ga, `breakage:${account}`, burnt.burned]);
    out = { ...out, [account]: burnt.acc };
  }
  return out;
}

/**
 * Profile fields the into guest lacks, copied from the from guest's profile; its own are
 * never overwritten. The phone only if phase 1 gave the into guest the phone's index entry
 * and it still has no phone; if it has one by now, the from guest's phone leaves the index.
 */
function fillProfileGaps(store: Store, record: MergeRecord): void {
  const into = profileOf(store, record.into);
  const from = profileOf(store, record.from);
  const next: GuestProfile = { ...into };
  if (next.name === '' && from.name !== '') next.name = from.name;
  for (const field of ['email', 'birthday', 'document', 'address'] as const) {
    const value = from[field];
    if (next[field] === undefined && value !== undefined) next[field] = value;
  }
  if ((next.tags?.length ?? 0) === 0 && (from.tags?.length ?? 0) > 0) next.tags = [...from.tags!];
  if (next.consent === undefined && from.consent !== undefined) next.consent = from.consent;
  // Discount levels, account by account: the into guest keeps its own level in every
  // account it has one in (0 included: a level taken away on purpose stays away) and
  // takes the from guest's in the accounts it has none in.
  const levels = { ...from.discounts, ...into.discounts };
  if (Object.keys(levels).length > 0) next.discounts = levels;
  if (from.phone !== '') {
    const phoneKey = phoneKeyOf(from.phone);
    if (store.phones.get(phoneKey) === record.into) {
      if (next.phone === '') next.phone = from.phone;
      else if (phoneKeyOf(next.phone) !== phoneKey) store.phones.removeSync(phoneKey);
    }
  }
  store.guests.putSync(record.into, next);
}

// ---- helpers ---------------------------------------------------------------------------

/** The answer for a transfer: its balance once landed (0 while still `out`; the engine then asks the into shard). */
function answerOf(record: MergeRecord, outcome: MergeOutcome): MergeResult {
  return { outcome, mergeId: record.mergeId, guestId: record.into, balance: record.balance ?? 0, cardsMoved: record.cardsMoved.length };
}

function profileOf(store: Store, guestId: string): GuestProfile {
  const profile = store.guests.get(guestId);
  assert.ok(profile !== undefined, 'a guest with a card has a profile');
  return profile;
}
