// Bounds of the admin API, named with their unit last. Limits shared with the
// engine's doors (body size, id and name lengths) live in protocol/limits.ts and
// are re-used here, so an id the admin API accepts is one every door accepts.

export { message_bytes_max as body_bytes_max, id_chars_max, name_chars_max } from '../protocol/limits.js';

/** Basis points are hundredths of a percent: 10000 = 100%, the whole check. */
export const basis_points_max = 10_000;
/** One point worth up to 10 000.00 in major units: beyond it a typo is likelier than a program. */
export const point_value_minor_max = 1_000_000;
/** Config versions are an `integer` column: a client cannot name a larger one. */
export const config_version_max = 2_147_483_647;
/** The `x-kopilka-author` header lands in every version row; a name or e-mail fits. */
export const author_chars_max = 100;
/** Versions one `GET /v1/config/versions` returns: history is paged, never dumped. */
export const versions_limit_max = 100;
export const versions_limit_default = 20;
/** Terminal keys carry 256 bits of entropy: not guessable, and hashed without a salt. */
export const terminal_key_bytes = 32;
/** Postgres connections the admin API holds: admin traffic is low, the engine's is not. */
export const pg_pool_connections_max = 10;
/** How long to wait for a Postgres connection before a request fails. */
export const pg_connect_timeout_ms = 5_000;
/** close() lets requests in flight finish for this long, then cuts their sockets. */
export const close_drain_ms = 5_000;
/**
 * Bodies of the promotions routes (a rules section, a promotion, a simulation
 * with a whole draft document): one promotion may list 1 000 item codes and the
 * catalog tens of thousands of tagged items, beyond the 64 KiB of other bodies.
 * The document's own bounds (engine/rules/limits.ts) apply after parsing.
 */
export const rules_body_bytes_max = 4 * 1024 * 1024;
/**
 * Tags, segments and outlet tags of a simulated guest or check: the largest list
 * a CEL comprehension may range over (engine/rules/limits.ts cel_context_list_max).
 */
export { cel_context_list_max as simulate_list_values_max } from '../engine/rules/limits.js';
/** Entries of a simulated guest's attributes, balances, counters and usage maps. */
export const simulate_map_entries_max = 200;
/** Characters of a simulated guest attribute's value, as a rules condition may name it. */
export const simulate_attribute_chars_max = 200;
/** Characters of an IANA time zone name ("America/Argentina/ComodRivadavia" is 32). */
export const time_zone_chars_max = 64;
/**
 * Transactions `GET /v1/guests/:card` shows unless `?limit=` says otherwise: a
 * screen of history for an operator (the protocol's own default of 10 is a till's).
 * The most is the protocol's history_limit_max.
 */
export const guest_history_limit_default = 20;
/**
 * How long a guest operation forwarded to the engine's HTTP door may take: a
 * commit-sized write answers in milliseconds, so this only ends a hung engine.
 */
export const engine_request_timeout_ms = 10_000;
/** The engine door's answer is read up to this: a balance of 100 transactions is ~20 KiB. */
export const engine_answer_bytes_max = 1024 * 1024;

/** Tags of one outlet (place conditions of promotions match them). */
export const outlet_tags_max = 32;
