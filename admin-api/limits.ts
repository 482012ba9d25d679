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
