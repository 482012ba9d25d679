import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../dist/protocol/errors.js';

const readme = readFileSync(new URL('../protocol/README.md', import.meta.url), 'utf8');
const outcomes = readFileSync(new URL('../protocol/types.ts', import.meta.url), 'utf8').match(/\| '([a-z_]+)'/g)!.map((s) => s.slice(3, -1));
// Outcomes a type lists on its first line ("= 'ok' | …") as well.
outcomes.push(...(readFileSync(new URL('../protocol/types.ts', import.meta.url), 'utf8').match(/Outcome = '([a-z_]+)'/g) ?? []).map((s) => s.slice(11, -1)));

describe('protocol documentation', () => {
  it.each(Object.keys(ERROR_CODES))('documents error code %s', (code) => {
    expect(readme).toContain(`| \`${code}\` |`);
  });
  it('documents every commit outcome', () => {
    expect(outcomes.length).toBeGreaterThan(5);
    for (const o of outcomes) expect(readme).toContain(`\`${o}\``);
  });
});
