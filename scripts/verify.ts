// `npm run verify -- [data folder]`: re-derives every balance from the journal and
// checks every invariant (engine/verify.ts). Prints each difference; exits 1 if any.
// Safe on a running engine's folder: LMDB readers see one consistent snapshot.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStore } from '../engine/store.js';
import { verifyStore } from '../engine/verify.js';

const dataDir = resolve(process.argv[2] ?? process.env.KOPILKA_DATA_DIR ?? './data');
if (!existsSync(join(dataDir, 'lmdb'))) {
  console.error(`no kopilka data at ${dataDir} (expected ${join(dataDir, 'lmdb')})`);
  process.exit(2);
}
const store = openStore(dataDir);
const started = performance.now();
// One synchronous pass: lmdb-js keeps one read snapshot until the event loop turns.
const report = verifyStore(store);
const ms = Math.round(performance.now() - started);
for (const d of report.differences) {
  const detail = d.expected === undefined ? (d.found === undefined ? '' : `: ${d.found}`) : `: expected ${d.expected}, found ${d.found}`;
  console.log(`DIFFERENCE ${d.what} (${d.where})${detail}`);
}
console.log(
  `verified ${report.entries} journal entries, ${report.postings} postings, ${report.guests} guests in ${ms} ms: ` +
    (report.differences.length === 0 ? 'clean' : `${report.differences.length} difference(s)`),
);
await store.close();
process.exit(report.differences.length === 0 ? 0 : 1);
