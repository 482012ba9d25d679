// Conformance: the rule corpus (test/fixtures/rules/cel-corpus.json) through our
// CEL (engine/rules/cel.ts on @marcbachmann/cel-js) and through @bufbuild/cel, the
// reference: both must give the result worked out by hand, or both an error.

import { readFileSync } from 'node:fs';
import { run as referenceRun, isCelError } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { describe, expect, it } from 'vitest';
import { celActivation, celPlainBindings, compileCel, type CelData } from '../../dist/engine/rules/index.js';

interface Corpus {
  contexts: Record<string, CelData>;
  cases: Array<{ expr: string } & Record<string, boolean | 'error' | string>>;
}

const corpus = JSON.parse(readFileSync(new URL('../fixtures/rules/cel-corpus.json', import.meta.url), 'utf8')) as Corpus;
const contexts = Object.keys(corpus.contexts);

function ours(expr: string, data: CelData): boolean | 'error' {
  const r = compileCel(expr);
  if (!r.ok) throw new Error(`${expr} does not compile: ${r.error.message}`);
  const out = r.program.run(celActivation(data));
  return typeof out === 'string' ? 'error' : out;
}

function reference(expr: string, data: CelData): unknown {
  try {
    const out = referenceRun(expr, celPlainBindings(data), { funcs: strings });
    return isCelError(out) ? 'error' : out;
  } catch {
    return 'error';
  }
}

describe('CEL conformance corpus', () => {
  it('holds at least 30 expressions over guest, check, accounts and time', () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(30);
    for (const variable of ['guest.', 'check.', 'accounts', 'time.']) expect(corpus.cases.some((c) => c.expr.includes(variable))).toBe(true);
  });

  for (const c of corpus.cases) {
    for (const name of contexts) {
      it(`${name}: ${c.expr}`, () => {
        const expected = c[name];
        expect(ours(c.expr, corpus.contexts[name]!)).toBe(expected);
        expect(reference(c.expr, corpus.contexts[name]!)).toBe(expected);
      });
    }
  }
});
