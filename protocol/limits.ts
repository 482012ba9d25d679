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
