// A quick micro-measurement of the rules alone (no door, no shard): the 50-promotion
// configuration of sample.ts against its 8-line check, compiled once, evaluated in
// a loop. Run: npx tsc -p tsconfig.json && node dist/engine/rules/measure.js [seconds]
// Prints evaluations per second, CPU time per evaluation (steadier than wall time
// when other processes share the cores) and the p50 / p99 of batches of 100
// evaluations, for stacking `all` and `best_per_line`.

import { compileRules } from './compile.js';
import { evaluate } from './evaluate.js';
import { sampleContext8, sampleRules50 } from './sample.js';
import { validateRules } from './validate.js';

function measure(label: string, stacking: 'all' | 'best_per_line', seconds: number): void {
  const json = sampleRules50();
  (json.settings as Record<string, unknown>).stacking = stacking;
  const checked = validateRules(json);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const rules = compileRules(checked.config, { timeZone: 'Europe/Moscow' });
  const ctx = sampleContext8();
  const applied = evaluate(rules, ctx).promotions.filter((p) => p.applied).length;
  for (let i = 0; i < 20_000; i++) evaluate(rules, ctx); // warm-up: let V8 optimize
  const batch = 100;
  const samples: number[] = [];
  const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < until) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) evaluate(rules, ctx);
    samples.push(Number(process.hrtime.bigint() - t) / batch / 1e3);
    count += batch;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  const cpuPer = (used.user + used.system) / count;
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!.toFixed(1);
  console.log(
    `${label}: ${Math.round(count / elapsed).toLocaleString('en-US')} evaluations/s (wall); CPU ${cpuPer.toFixed(1)} us per evaluation; ` +
      `wall per evaluation p50 ${q(0.5)} us, p99 ${q(0.99)} us (batches of ${batch}); ${applied} of 50 promotions apply`,
  );
}

const seconds = Number(process.argv[2] ?? 3);
measure('50 promotions (10 CEL), 8 lines, stacking all', 'all', seconds);
measure('50 promotions (10 CEL), 8 lines, stacking best_per_line', 'best_per_line', seconds);
