// What a card number may look like, apart from an organization's masks
// (engine/cards.ts): the shapes every door and the engine agree on.
//
// A payment code (engine/payment-codes.ts) travels in the same `card` field as a
// card number, so the two must never be confused: a code is `P` and 8 digits, and
// no card of that shape may be registered.

/** An RFID tag's UID as kopilka keeps it: 8 hex characters, upper case. */
export const RFID_CARD = /^[0-9A-F]{8}$/;
/** A payment code: `P` and 8 digits. */
export const PAYMENT_CODE = /^P[0-9]{8}$/;
/** What registering refuses as a card number: anything a cashier could mistake for a payment code. */
export const PAYMENT_CODE_LIKE = /^[Pp][0-9]{8}$/;

/** Readers report UIDs in either case; kopilka keeps upper case. */
export function normalizeRfid(card: string): string {
  return card.toUpperCase();
}

export function isPaymentCode(card: string): boolean {
  return card.length === 9 && PAYMENT_CODE.test(card);
}
