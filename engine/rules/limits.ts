// Every list, string and nesting of a rules configuration has a bound, named with
// its unit last. The validator rejects a configuration beyond a bound with the
// path of the field, so the engine never meets a configuration it cannot
// evaluate in well under a millisecond.

/** Promotions in one configuration: large chains run a few hundred at once. */
export const promotions_max = 1_000;
/** Named periods in one configuration. */
export const periods_max = 500;
/** Accounts a configuration may name (bonus, deposit, counters, per partner). */
export const accounts_max = 100;
/** Partners with settings of their own. */
export const partners_max = 500;
/** Periods one promotion may list (any of them opens it). */
export const promotion_periods_max = 32;
/** Nesting of all / any / not: deeper trees are unreadable and cost stack. */
export const conditions_depth_max = 8;
/** Condition nodes in one promotion, counting every all / any / not. */
export const conditions_per_promotion_max = 64;
/** Effects of one promotion. */
export const effects_per_promotion_max = 16;
/** Values in one list of a condition or a line match (item codes, tags, outlets). */
export const list_values_max = 1_000;
/** Entries of one period's list (date ranges, times of day). */
export const period_ranges_max = 64;
/** Items in the catalog that carry tags. */
export const catalog_items_max = 100_000;
/** Tags one catalog item may carry. */
export const item_tags_max = 32;
/** Characters of an id, code, tag, level or attribute key. */
export const id_chars_max = 64;
/** Characters of a promotion's name. */
export const name_chars_max = 200;
/** Characters of a promotion's description. */
export const description_chars_max = 2_000;
/** Characters of a message for the receipt, screen or cashier. */
export const message_chars_max = 500;
/** Characters of a CEL expression's source. */
export const cel_source_chars_max = 2_000;
/** AST nodes of one CEL expression (cel-js `maxAstNodes`). */
export const cel_ast_nodes_max = 400;
/** Nesting of calls, selects, indexes and literals in CEL (cel-js `maxDepth`). */
export const cel_depth_max = 32;
/** Elements of a CEL list literal; a bigger set belongs in a tag or a condition. */
export const cel_list_elements_max = 64;
/** Entries of a CEL map literal. */
export const cel_map_entries_max = 64;
/** Arguments of one CEL call. */
export const cel_call_arguments_max = 8;
/**
 * Static cost of one CEL expression: nodes visited, with a comprehension's body
 * counted once per element of the largest list it may range over (200). A pass
 * over the lines of the largest check with a body of up to 50 nodes fits; a
 * comprehension nested over the lines of another is refused. Measured here: an
 * expression at this bound takes about 0.8 ms on a 200-line check (every line
 * scanned), a few microseconds on an ordinary one.
 */
export const cel_cost_max = 10_000;
/** The largest list a CEL comprehension may meet in the context: lines of a check, tags of a guest. */
export const cel_context_list_max = 200;
/** Priority of a promotion: 0 .. priority_max, higher first. */
export const priority_max = 1_000_000;
/** A percentage in basis points: 10000 = 100%. */
export const bp_whole = 10_000;
/** Money (minor units) or points (hundredths) one effect, limit or budget may name. */
export const amount_max = 100_000_000_000;
/** Uses or units in a per-guest limit. */
export const uses_max = 1_000_000;
/** Days of a birthday window on either side of the birthday. */
export const birthday_window_days_max = 31;
/** Days an accrual may wait before it activates, or live before it expires. */
export const accrual_days_max = 3_660;
/** Years a period may name. */
export const period_year_min = 2000;
export const period_year_max = 2100;
/** Age in years a guest condition may name. */
export const age_years_max = 150;
/** Every N-th unit free: N at most this. */
export const nth_every_max = 1_000;
/** Configuration errors reported at once; the rest are counted, not listed. */
export const config_errors_max = 100;
