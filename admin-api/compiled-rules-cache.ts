// The published rules, compiled once per configuration version for simulation:
// compiling parses every CEL expression and builds every closure, which a
// simulation per request must not repeat. One cache per server (versions are
// numbered per database), holding the newest version it was asked for.

import assert from 'node:assert/strict';
import { compileRules, type CompiledRules } from '../engine/rules/compile.js';
import { validateRules } from '../engine/rules/validate.js';
import type { ConfigSnapshot } from '../protocol/config.js';

export class CompiledRulesCache {
  #version = 0;
  /** At most two entries: with and without drafts applied as active. */
  readonly #compiled = new Map<boolean, CompiledRules>();
  #compiles = 0;

  /** The snapshot's rules compiled in its organization's time zone, from the cache when its version is there. */
  get(snapshot: ConfigSnapshot, includeDrafts: boolean): CompiledRules {
    if (snapshot.version !== this.#version) {
      // Versions only grow; an older one (a request that read its snapshot just
      // before a publish) is compiled for that request and not kept.
      if (snapshot.version < this.#version) return compile(snapshot, includeDrafts);
      this.#version = snapshot.version;
      this.#compiled.clear();
    }
    let rules = this.#compiled.get(includeDrafts);
    if (rules === undefined) {
      rules = compile(snapshot, includeDrafts);
      this.#compiles++;
      this.#compiled.set(includeDrafts, rules);
    }
    return rules;
  }

  /** Compilations this cache has made: for tests that it compiles once per version. */
  get compiles(): number {
    return this.#compiles;
  }
}

function compile(snapshot: ConfigSnapshot, includeDrafts: boolean): CompiledRules {
  // The stored document was validated when it was saved; validating it again
  // (once per version) restores the validator's exact form from the JSON the
  // database gave back, and compileRules asserts it has that form.
  const checked = validateRules(snapshot.rules);
  assert.ok(checked.ok, `version ${snapshot.version} holds rules the validator refuses: ${JSON.stringify(checked.ok ? [] : checked.errors.slice(0, 3))}`);
  return compileRules(checked.config, { timeZone: snapshot.organization.timeZone, version: snapshot.version, includeDrafts });
}
