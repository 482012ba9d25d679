// A quick micro-measurement of the rules alone (no door, no shard): the 50-promotion
// configuration of sample.ts against its 8-line check, compiled once, evaluated in
// a loop. Run: npx tsc -p tsconfig.json && node dist/engine/rules/measure.js [seconds]
// Prints evaluations per second, CPU time per evaluation (steadier than wall time
// when other processes share the cores) and the p50 / p99 of batches of 100
// evaluations, for stacking `all` and `best_per_line`, each three ways: explained
// (every verdict, as the admin API's simulate and `explain: true` ask), without
// explanations (`explain: false`, what a check needs), and without explanations for
// a guest with no level, tags, counters or attributes, as the engine's guests often
// are (CEL rules reading them stop on errors: guest.counters["visits"] has no such key).

import { compileRules } from './compile.js';
import { evaluate } from './evaluate.js';
import type { RulesContext } from './model.js';
import { sampleContext8, sampleRules50 } from './sample.js';
import { validateRules } from './validate.js';

/** The sample check of a guest without a profile of promotions' interest. */
function bareGuestContext(): RulesContext {
  const ctx = sampleContext8();
  delete ctx.guest.level;
  delete ctx.guest.tags;
  delete ctx.guest.counters;
  delete ctx.guest.attributes;
  return ctx;
}

function measure(label: string, stacking: 'all' | 'best_per_line', seconds: number, explain: boolean, ctx: RulesContext): void {
  const json = sampleRules50();
  (json.settings as Record<string, unknown>).stacking = stacking;
  const checked = validateRules(json);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const rules = compileRules(checked.config, { timeZone: 'Europe/Moscow' });
  const options = { explain };
  const applied = evaluate(rules, ctx).promotions.filter((p) => p.applied).length;
  for (let i = 0; i < 20_000; i++) evaluate(rules, ctx, options); // warm-up: let V8 optimize
  const batch = 100;
  const samples: number[] = [];
  const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let count = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  while (process.hrtime.bigint() < until) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) evaluate(rules, ctx, options);
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
for (const stacking of ['all', 'best_per_line'] as const) {
  const label = `50 promotions (10 CEL), 8 lines, stacking ${stacking}`;
  measure(`${label}, explained`, stacking, seconds, true, sampleContext8());
  measure(`${label}, explain: false`, stacking, seconds, false, sampleContext8());
  measure(`${label}, explain: false, guest without level/tags/counters/attributes`, stacking, seconds, false, bareGuestContext());
}
