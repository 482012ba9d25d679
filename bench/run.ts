// The benchmark entry (`npm run bench`, or `node dist/bench/run.js [--quick] [--only=TEXT]`).
// Runs each ceiling and, right after it, the kopilka scenarios that name it, so a
// kopilka figure and its ceiling are measured minutes apart at most on the same
// noisy machine; then the scenarios without a ceiling. Prints a table and writes
// bench/results/latest.json.
//
//   --quick      0.5 s warmup + 2 s per row: the ceilings alone finish in under a minute
//   --only=TEXT  only rows whose name contains TEXT (a scenario brings its ceiling along);
//                several texts separated by commas keep rows that contain any of them

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CEILING, ceilingScenarios, startCeilingServers } from './ceilings.js';
import { kopilkaScenarios } from './kopilka-scenarios.js';
import { stopKopilkaUnderTest } from './kopilka-under-test.js';
import { repoRoot } from './repo-root.js';
import { round3, type BenchResult } from './stats.js';
import type { LoadTiming } from './measure-window.js';
import type { Scenario } from './scenario.js';

const quick_warmup_ms = 500;
const quick_duration_ms = 2_000;
const full_warmup_ms = 2_000;
const full_duration_ms = 10_000;
/** Pause between rows so closing sockets and GC of one row do not land in the next, in ms. */
const settle_ms = 300;

export interface BenchOptions {
  quick: boolean;
  /** Keep only rows whose name contains this, or one of its comma-separated parts. */
  only?: string;
  /** Kopilka's rows; see kopilka-scenarios.ts. */
  scenarios: Scenario[];
}

export interface BenchRow extends BenchResult {
  ceiling?: string;
  /** ops/s as a percentage of the named ceiling's ops/s in this run. */
  pct_of_ceiling?: number;
}

export interface BenchReport {
  results: BenchRow[];
  /** Rows that threw: reported, never given figures. */
  failures: { name: string; error: string }[];
  /** Load averages show how busy the shared machine was around the run (our own load included). */
  machine: { cpus: number; cpu_model: string; node: string; platform: string; loadavg_1m_at_start: number; loadavg_1m_at_end?: number };
  quick: boolean;
  at: string;
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const timing: LoadTiming = options.quick
    ? { warmupMs: quick_warmup_ms, durationMs: quick_duration_ms }
    : { warmupMs: full_warmup_ms, durationMs: full_duration_ms };
  const report: BenchReport = {
    results: [],
    failures: [],
    machine: {
      cpus: cpus().length,
      cpu_model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadavg_1m_at_start: round3(loadavg()[0]!),
    },
    quick: options.quick,
    at: new Date().toISOString(),
  };

  const ceilingNames = new Set<string>(Object.values(CEILING));
  for (const scenario of options.scenarios) {
    if (scenario.ceiling !== undefined && !ceilingNames.has(scenario.ceiling)) {
      report.failures.push({ name: scenario.name, error: `names unknown ceiling ${scenario.ceiling}` });
    }
  }

  const parts = options.only?.split(',').filter((t) => t !== '');
  const selected = (name: string): boolean => parts === undefined || parts.some((t) => name.includes(t));
  const scenarios = options.scenarios.filter((s) => selected(s.name) && (s.ceiling === undefined || ceilingNames.has(s.ceiling)));
  const servers = await startCeilingServers();
  try {
    const ceilingRows = new Map<string, BenchResult>();
    for (const ceiling of ceilingScenarios(servers)) {
      const dependents = scenarios.filter((s) => s.ceiling === ceiling.name);
      const storageNeeded = ceiling.name === CEILING.lmdbCommitPattern && scenarios.some((s) => s.storageBound === true);
      if (!selected(ceiling.name) && dependents.length === 0 && !storageNeeded) continue;
      const ceilingRow = await runRow(ceiling, timing, report);
      if (ceilingRow !== undefined) ceilingRows.set(ceiling.name, ceilingRow);
      for (const scenario of dependents) await runRow(scenario, timing, report, ceilingRows.get(ceiling.name));
    }
    for (const scenario of scenarios.filter((s) => s.ceiling === undefined)) await runRow(scenario, timing, report);
  } finally {
    await servers.stop();
  }
  // Durable commits are also judged beside the storage's own ceiling for their write set.
  const storage = report.results.find((r) => r.name === CEILING.lmdbCommitPattern);
  for (const row of report.results) {
    if (storage !== undefined && storage.ops_per_s > 0 && options.scenarios.some((s) => s.name === row.name && s.storageBound === true)) row.pct_of_storage_ceiling = (100 * row.ops_per_s) / storage.ops_per_s;
  }
  report.machine.loadavg_1m_at_end = round3(loadavg()[0]!);
  return report;
}

async function runRow(scenario: Scenario, timing: LoadTiming, report: BenchReport, ceiling?: BenchResult): Promise<BenchResult | undefined> {
  process.stderr.write(`bench: ${scenario.name} ...\n`);
  try {
    const result = await scenario.run({ ...timing });
    const row: BenchRow = { ...result, name: scenario.name };
    if (scenario.ceiling !== undefined) {
      row.ceiling = scenario.ceiling;
      if (ceiling !== undefined && ceiling.ops_per_s > 0) row.pct_of_ceiling = (100 * result.ops_per_s) / ceiling.ops_per_s;
    }
    report.results.push(row);
    return result;
  } catch (error) {
    report.failures.push({ name: scenario.name, error: error instanceof Error ? error.message : String(error) });
    return undefined;
  } finally {
    await new Promise((resolve) => setTimeout(resolve, settle_ms));
  }
}

/** Rounds every number in a row, leading with the fixed columns. */
function roundRow(row: BenchRow): Record<string, unknown> {
  const { name, ops_per_s, p50_ms, p99_ms, ...rest } = row;
  const out: Record<string, unknown> = { name, ops_per_s: Math.round(ops_per_s), p50_ms: round3(p50_ms), p99_ms: round3(p99_ms) };
  for (const [key, value] of Object.entries(rest)) out[key] = typeof value === 'number' ? round3(value) : value;
  return out;
}

/** A row measured against another kopilka row of the same run (commit.ws.ledger vs commit.ws, promotions50 vs evaluate.ws). */
function baseShare(r: BenchRow): string {
  const pct = (r.pct_of_commit_ws ?? r.pct_of_evaluate_ws) as number | undefined;
  return pct === undefined ? '' : `${pct.toFixed(1)}%`;
}

function formatTable(report: BenchReport): string {
  const header = ['name', 'ops/s', 'p50 ms', 'p99 ms', '% of ceiling', '% of base row', '% of storage', 'errors', 'server CPU us/op', 'decision p50 ms', 'decision p99 ms', 'heap MB'];
  const cell = (value: unknown): string => (typeof value === 'number' ? String(round3(value)) : '');
  const rows = report.results.map((r) => [
    r.name,
    String(Math.round(r.ops_per_s)),
    cell(r.p50_ms),
    cell(r.p99_ms),
    r.pct_of_ceiling === undefined ? '' : `${r.pct_of_ceiling.toFixed(1)}%`,
    baseShare(r),
    r.pct_of_storage_ceiling === undefined ? '' : `${(r.pct_of_storage_ceiling as number).toFixed(1)}%`,
    cell(r.errors),
    cell(r.server_cpu_us_per_op),
    cell(r.server_p50_ms),
    cell(r.server_p99_ms),
    cell(r.heap_used_mb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const notes = report.results
    .filter((r) => typeof r.pct_of_same_check_without_promotions === 'number')
    .map((r) => `${r.name}: ${(r.pct_of_same_check_without_promotions as number).toFixed(1)}% of its check without promotions (evaluate.ws.lines8)`);
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...notes].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const unknown = args.filter((a) => a !== '--quick' && !a.startsWith('--only='));
  if (unknown.length > 0) {
    console.error(`unknown arguments: ${unknown.join(' ')}\nusage: node dist/bench/run.js [--quick] [--only=TEXT]`);
    process.exit(2);
  }

  const report = await runBench({ quick, only, scenarios: kopilkaScenarios }).finally(stopKopilkaUnderTest);

  console.log(formatTable(report));
  for (const failure of report.failures) console.log(`FAILED ${failure.name}: ${failure.error}`);

  const dir = join(repoRoot(), 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'latest.json');
  const json = { ...report, results: report.results.map(roundRow) };
  await writeFile(file, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${file}`);
  // A failed row must fail the command, so CI or a person notices.
  process.exitCode = report.failures.length > 0 ? 1 : 0;
}

// Run only as the entry point, so another script can import runBench.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
