// A guest's profile: how a request's fields change it, how answers show it, and
// the phone index's key. Pure functions of the records; the writes are in
// guest-registry.ts.

import type { GuestProfileFields, GuestProfileView } from '../protocol/types.js';
import type { GuestProfile, Store } from './store.js';

/** The phone index's key: the digits alone, so "+79991234567" and "79991234567" are one phone. */
export function phoneKeyOf(phone: string): string {
  return phone.startsWith('+') ? phone.slice(1) : phone;
}

/** The profile as answers carry it: "" (or [] / false) for what is not set. */
export function profileView(p: GuestProfile | undefined): GuestProfileView {
  return {
    name: p?.name ?? '',
    phone: p?.phone ?? '',
    email: p?.email ?? '',
    birthday: p?.birthday ?? '',
    document: p?.document ?? '',
    address: p?.address ?? '',
    tags: p?.tags === undefined ? [] : [...p.tags],
    consent: p?.consent ?? false,
    // The levels set for the guest, as stored; no defaults (see GuestProfileView.discounts).
    discounts: { ...p?.discounts },
  };
}

/** A new guest's profile from a register request's fields; unset optional fields stay absent. */
export function newProfile(id: string, card: string, createdAt: string, f: GuestProfileFields): GuestProfile {
  return withFields({ id, name: '', phone: '', cards: [card], createdAt }, f);
}

/**
 * The profile with the fields present in `f` applied: "" clears a text field (name
 * and phone become "", the others absent), `tags: []` clears the tags. Cards are
 * not a profile field: they change only through register and addCard.
 */
export function withFields(p: GuestProfile, f: GuestProfileFields): GuestProfile {
  const next: GuestProfile = { ...p };
  if (f.name !== undefined) next.name = f.name;
  if (f.phone !== undefined) next.phone = f.phone;
  for (const key of ['email', 'birthday', 'document', 'address'] as const) {
    const v = f[key];
    if (v === undefined) continue;
    if (v === '') delete next[key];
    else next[key] = v;
  }
  if (f.tags !== undefined) {
    if (f.tags.length === 0) delete next.tags;
    else next.tags = [...f.tags];
  }
  if (f.consent !== undefined) next.consent = f.consent;
  return next;
}

/**
 * The profile with discount levels set: each entry of `levels` replaces that account's
 * level. Only accounts in `known` (the configuration's discount accounts) are kept, so
 * the levels of accounts no longer configured go with the next change and the map
 * stays within the configuration's accounts.
 */
export function withDiscounts(p: GuestProfile, levels: Readonly<Record<string, number>>, known: ReadonlySet<string>): GuestProfile {
  const discounts: Record<string, number> = {};
  for (const [id, bp] of Object.entries({ ...p.discounts, ...levels })) if (known.has(id)) discounts[id] = bp;
  const next: GuestProfile = { ...p, discounts };
  if (Object.keys(discounts).length === 0) delete next.discounts;
  return next;
}

/** The guest holding a phone, from the phone index (one LMDB read). */
export function guestOfPhone(store: Store, phone: string): string | undefined {
  return store.phones.get(phoneKeyOf(phone));
}

/** Meta key set once the phone index holds the phones of guests registered before it existed. */
const META_PHONES_INDEXED = 'phones-indexed';

/**
 * Data folders from before the phone index have guests with phones it does not
 * know: index them once, at open, before any shard runs. Where two old guests share
 * a phone, the first in key order keeps it in the index (both keep it in their
 * profiles). Returns the phones indexed.
 */
export function indexOldPhones(store: Store): number {
  if (store.meta.get(META_PHONES_INDEXED) !== undefined) return 0;
  return store.root.transactionSync(() => {
    let indexed = 0;
    for (const { value } of store.guests.getRange({})) {
      if (value.phone === '' || value.phone === undefined) continue;
      const key = phoneKeyOf(value.phone);
      if (store.phones.get(key) !== undefined) continue;
      store.phones.putSync(key, value.id);
      indexed++;
    }
    store.meta.putSync(META_PHONES_INDEXED, true);
    return indexed;
  });
}
