// One row of the benchmark as the runner sees it: a name, the ceiling it is
// compared with (if any), and how to run it for a given warmup and duration.

import type { LoadTiming } from './measure-window.js';
import type { BenchResult } from './stats.js';

export interface Scenario {
  /** Row name, e.g. 'evaluate.ws'; the BenchResult's name should match. */
  name: string;
  /**
   * The ceiling row to compare with, e.g. 'ceiling.uws_ws_echo' (see CEILING in
   * ceilings.ts); the table shows ops/s as a percentage of it. Omit for rows that
   * have no comparable ceiling.
   */
  ceiling?: string;
  /**
   * Durable writes: also shown as a share of the storage's own ceiling for a
   * commit's write set (ceiling.lmdb_commit_pattern), which then runs too.
   */
  storageBound?: boolean;
  /** Runs the scenario: start what it needs, drive load for `timing`, stop, return the figures. */
  run: (timing: LoadTiming) => Promise<BenchResult>;
}
