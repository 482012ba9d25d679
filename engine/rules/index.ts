// kopilka's promotions engine: periods, conditions, effects, limits, stacking,
// coalition rank and custom rules in CEL, validated once, compiled once per
// configuration version, evaluated per check as a pure function.
//
//   const checked = validateRules(json);                  // admin API, when saved
//   if (!checked.ok) return checked.errors;               // [{ path, message }]
//   const rules = compileRules(checked.config, { timeZone: 'Europe/Moscow', version: 7 });
//   const result = evaluate(rules, {                      // per check, pure
//     time: Date.parse('2026-03-08T12:30:00+03:00'),
//     check: { outlet: 'outlet-1', currency: 'RUB', lines: [{ itemCode: 'BEER', category: 'beer', quantity: 2, unitPrice: 25_000 }] },
//     guest: { id: 'g-1', level: 'gold', balances: { bonus: 10_000 } },
//   });
//   result.lines[0].discount; result.accruals; result.pointsPayment; result.promotions; // with reasons
//   evaluate(rules, context, { explain: false });         // a check's: what applied, no reasons
//
// The orchestrator applies what evaluate returns (postings, counters, usage and
// budgets, actions, messages); nothing here does I/O.

export * from './model.js';
export { validateRules, type ConfigError, type ValidationResult } from './validate.js';
export { compileRules, type CompileOptions, type CompiledRules } from './compile.js';
export { evaluate, type EvaluateOptions } from './evaluate.js';
export { distribute, apportion, percentOf } from './distribute.js';
export { compileCel, celActivation, celPlainBindings, CelInput, type CelCompileResult, type CelData, type CelProgram, type CelSourceError } from './cel.js';
export { localTime, isTimeZone, type LocalTime } from './local-time.js';
export * as RULES_LIMITS from './limits.js';
export { sampleRules50, sampleContext8 } from './sample.js';
