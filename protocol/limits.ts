// Every queue, message and list has a bound, named with its unit last. A request
// beyond a bound gets a coded error (backpressure), never unbounded memory.

/** A WebSocket frame or HTTP body: a check of 200 lines fits in well under this. */
export const message_bytes_max = 64 * 1024;
/** Lines in one check: the largest retail receipts seen run to a few hundred lines. */
export const check_lines_max = 200;
/** Quantity of one line, in units. */
export const line_quantity_max = 1_000_000;
/** Unit price of one line, in minor units (100 million in major units). */
export const unit_price_minor_max = 10_000_000_000;
/** A check total in minor units; keeps every intermediate product a safe integer. */
export const check_total_minor_max = 100_000_000_000;
/** Points (in hundredths) one request may name. */
export const points_max = 100_000_000_000;
/** Card numbers: plastic and virtual cards, RFID UIDs, wallet pass ids. */
export const card_chars_max = 64;
export const idempotency_key_chars_max = 128;
export const id_chars_max = 64;
export const item_code_chars_max = 64;
export const name_chars_max = 200;
/** Requests in flight on one WebSocket connection or gRPC stream. */
export const connection_in_flight_max = 4096;
/** Requests queued for one shard; beyond it the door answers `overloaded`. */
export const shard_queue_max = 20_000;
/** Transactions a history request may return. */
export const history_limit_max = 100;
export const history_limit_default = 10;
/** Horizon of a balance's "expiring soon" figure, days. */
export const expiring_within_days_max = 3660;
export const expiring_within_days_default = 30;

// ---- guests and cards (engine/cards.ts, engine/guest-registry.ts) ----
/** A phone as sent: digits with an optional leading +; E.164 has at most 15 digits, local forms add a few. */
export const phone_chars_max = 24;
/** An e-mail address: RFC 5321 caps a forward path at 254 characters. */
export const email_chars_max = 254;
/** A passport or ID document number. */
export const document_chars_max = 64;
/** A postal address in one line. */
export const address_chars_max = 500;
/** Tags on one guest: enough for segments and flags, small enough to read with every check. */
export const guest_tags_max = 32;
export const tag_chars_max = 32;
/** Discount accounts one updateGuest may set: a guest rarely has more than one or two discount cards. */
export const guest_discounts_max = 16;
/** Cards one guest may hold, blocked and replaced ones included: identify reads each of them. */
export const guest_cards_max = 64;
/** Why a card was blocked, for the audit trail. */
export const block_reason_chars_max = 200;
/** Card masks of one organization, and the length of one (a mask matches whole card numbers). */
export const card_masks_max = 32;
export const card_mask_chars_max = card_chars_max;
/** A payment code lives 5 minutes: long enough to show it at the till, short enough to be worthless once seen. */
export const payment_code_ttl_ms = 5 * 60_000;
/** Expired payment codes one issue removes (bounded work per request; the backlog drains faster than codes are issued). */
export const payment_code_sweep_max = 16;
/** Attempts to draw a payment code that no live code holds before giving up (10^8 codes; a clash is rare). */
export const payment_code_draws_max = 8;

// ---- checks in other currencies (engine/currency-rates.ts) ----
/** Rates one organization may publish: a chain takes a handful of currencies, not hundreds. */
export const currency_rates_max = 32;
/** Integer digits of a rate: room for a strong currency priced in a very weak organization currency. */
export const currency_rate_integer_digits_max = 9;
/** Fraction digits of a rate: enough for a strong currency against a weak one (0.000023). */
export const currency_rate_fraction_digits_max = 12;
/** Digits of a currency's minor unit: ISO 4217 has 0 (JPY) to 4 (CLF). */
export const currency_minor_digits_max = 4;
