// `npm run sim -- --seed N --steps M [--shards K] [--verbose] [--aborts]` runs one
// seed of the ledger's simulation in a temp folder; `--seeds A..B` runs a range.
// A failure prints the seed and step that reproduce it, keeps the data folder for
// `npm run verify -- <folder>`, and exits 1.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { simulate } from '../engine/simulation.js';

const usage = 'usage: npm run sim -- (--seed N | --seeds A..B) [--steps M] [--shards K] [--verbose] [--aborts]';

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

function integer(text: string, what: string): number {
  if (!/^\d+$/.test(text)) fail(`${what} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string' },
    steps: { type: 'string', default: '1000' },
    shards: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    aborts: { type: 'boolean', default: false },
  },
});

let seeds: number[];
if (values.seeds !== undefined) {
  const m = /^(\d+)\.\.(\d+)$/.exec(values.seeds);
  if (m === null) fail(`--seeds must be a range such as 1..100, got "${values.seeds}"`);
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (b < a) fail('--seeds must run upwards, e.g. 1..100');
  seeds = Array.from({ length: b - a + 1 }, (_, i) => a + i);
} else if (values.seed !== undefined) {
  seeds = [integer(values.seed, '--seed')];
} else {
  fail('give --seed N or --seeds A..B');
}
const steps = integer(values.steps!, '--steps');
const shards = values.shards === undefined ? undefined : integer(values.shards, '--shards');
if (shards === 0) fail('--shards must be a positive integer');

let failed = 0;
const started = performance.now();
for (const seed of seeds) {
  const dataDir = mkdtempSync(join(tmpdir(), `kopilka-sim-${seed}-`));
  const t0 = performance.now();
  const result = await simulate({
    seed,
    steps,
    dataDir,
    ...(shards === undefined ? {} : { shards }),
    ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
    aborts: values.aborts,
  });
  const ms = Math.round(performance.now() - t0);
  const s = result.stats;
  if (result.ok) {
    rmSync(dataDir, { recursive: true, force: true });
    console.log(
      `seed ${seed}: ok, ${s.steps} steps in ${ms} ms; ${s.shards} shard(s), ${s.guests} guests, ${s.checks} checks, ${s.holds} holds, ` +
        `${s.journalEntries} journal entries, ${s.crashes} crashes, ${s.aborts} aborts, ${s.restarts} restarts; digest ${result.digest.slice(0, 16)}`,
    );
    if (seeds.length === 1) console.log(JSON.stringify(s, null, 2));
  } else {
    failed++;
    const f = result.failure!;
    console.log(`seed ${seed}: FAILED at step ${f.step}: ${f.message}`);
    console.log(`  reproduce: npm run sim -- --seed ${f.seed} --steps ${f.step}${shards === undefined ? '' : ` --shards ${shards}`}${values.aborts ? ' --aborts' : ''} --verbose`);
    console.log(`  data kept: ${dataDir} (npm run verify -- ${dataDir})`);
  }
}
if (seeds.length > 1) {
  console.log(`${seeds.length - failed}/${seeds.length} seeds ok in ${Math.round(performance.now() - started)} ms`);
}
process.exit(failed === 0 ? 0 : 1);
