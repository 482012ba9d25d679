// Compiled CEL: a type-checked expression turned into plain closures over the plain
// variables (numbers for ints), for the shapes promotion conditions are made of:
// field reads, comparisons, && || ! ?:, int arithmetic, `in`, size, startsWith /
// endsWith / contains, has() on maps, and the macros exists, all, exists_one,
// filter and map. cel-js interprets its AST and works on typed copies of the
// variables with BigInt ints, about a microsecond per condition; a compiled one
// takes a few dozen nanoseconds.
//
// A compiled program gives cel-js's outcome: true, false, or the code of the error
// cel-js would stop on. The runtime errors of these shapes are decided here, as
// cel-js decides them, without throwing: a missing map key (no_such_key), a list
// index out of range (index_out_of_bounds), division and modulo by zero. A closure
// that may stop on one returns ERR (errorCode names it); whatever consumes its value
// passes ERR on, in cel-js's order of evaluation (left before right; a function's
// arguments and a list's elements last to first, as its resolveAstArray does), so
// the first error cel-js would meet is the one named. Where cel-js absorbs an error,
// so does the closure: `E && false` is false, `E && true` is E, `E1 && E2` is E2
// (and so for ||); `exists` / `all` go on past an erring element and name the first
// error only when nothing else decided; exists_one, filter and map stop on it.
//
// What it cannot decide exactly throws NOT_HERE, and the program runs in cel-js,
// which then gives the answer (or the error code):
//   - an int result beyond ±(2^53 − 1), where a double is no longer exact (and
//     division of such ints);
//   - a variable whose typed copy would fail or differ (a non-integer counter, a
//     string field that is not a string): checked once per evaluation, on first read.
// Anything else (doubles, conversions, map literals, optionals, dyn values) is not
// compiled at all: such an expression always runs in cel-js.

import type { ASTNode } from '@marcbachmann/cel-js';
import type { CelData } from './cel.js';

/** Thrown by a compiled program that leaves the decision to cel-js (a plain value: throwing it records no stack). */
export const NOT_HERE: object = Object.freeze({ notHere: true });

/** The variables as a compiled program reads them; each throws NOT_HERE when its typed copy would not be the same. */
export interface PlainVariables {
  guest(): CelData['guest'];
  check(): CelData['check'];
  accounts(): Readonly<Record<string, number>>;
  time(): CelData['time'];
}

/** true, false, or the code of the CEL error that stopped it (cel-js's code); throws NOT_HERE to leave it to cel-js. */
export type CompiledCel = (vars: PlainVariables) => boolean | string;

/** Message type → field → declared type, as registered with cel-js. */
export type MessageFields = Readonly<Record<string, Readonly<Record<string, string>>>>;

type Fn = (vars: PlainVariables) => unknown;

/**
 * What a closure returns when its expression stopped on a CEL error; never a value
 * of the variables (it is this module's own object), so a check by identity tells.
 */
const ERR: object = Object.freeze({ celError: true });
/** The code of the error the last ERR stands for (compiled programs never nest). */
let errorCode = '';

function fail(code: string): object {
  errorCode = code;
  return ERR;
}

/** What cel-js's type checker left on every node it checked. */
interface CheckedType {
  kind: string;
  name: string;
  keyType?: CheckedType;
  valueType?: CheckedType;
}

function typeOf(node: ASTNode): CheckedType | undefined {
  return (node as unknown as { checkedType?: CheckedType }).checkedType;
}

function typeName(node: ASTNode): string | undefined {
  return typeOf(node)?.name;
}

const PRIMITIVES = new Set(['int', 'string', 'bool']);
const VARIABLES = new Set(['guest', 'check', 'accounts', 'time']);

/** A map with string keys, as guest.attributes, guest.counters and accounts are. */
function isStringMap(t: CheckedType | undefined): boolean {
  return t?.kind === 'map' && t.keyType?.name === 'string';
}

/** The compiled form of a checked boolean expression, or null when it has something not compiled. */
export function compileFast(ast: ASTNode, fields: MessageFields): CompiledCel | null {
  if (typeName(ast) !== 'bool') return null;
  const compiler = new Compiler(fields);
  const fn = compiler.compile(ast, new Map());
  if (fn === null) return null;
  if (!compiler.fails(fn)) return fn as CompiledCel;
  return (v) => {
    const out = fn(v);
    return out === ERR ? errorCode : (out as boolean);
  };
}

type Scope = ReadonlyMap<string, number>;

/** Two operands, left before right, each passing ERR on; then `op`. */
function both(l: Fn, r: Fn, op: (a: unknown, b: unknown) => unknown): Fn {
  return (v) => {
    const a = l(v);
    if (a === ERR) return ERR;
    const b = r(v);
    return b === ERR ? ERR : op(a, b);
  };
}

class Compiler {
  readonly #fields: MessageFields;
  /** The values of comprehension variables, one slot per comprehension of the expression. */
  readonly #slots: unknown[] = [];
  /** The closures that may return ERR; the others never do, and their consumers need not look. */
  readonly #failing = new WeakSet<Fn>();

  constructor(fields: MessageFields) {
    this.#fields = fields;
  }

  fails(fn: Fn): boolean {
    return this.#failing.has(fn);
  }

  /** `fn`, marked as one that may return ERR when `may`. */
  #may(fn: Fn, may = true): Fn {
    if (may) this.#failing.add(fn);
    return fn;
  }

  /**
   * Whether `node` is a map with string keys. The argument of has() goes unchecked
   * past its root variable, so a field of a message is typed from its declaration.
   */
  #isStringMap(node: ASTNode): boolean {
    const t = typeOf(node);
    if (t !== undefined) return isStringMap(t);
    if (node.op !== '.') return false;
    const receiver = typeOf(node.args[0]);
    const declared = receiver?.kind === 'message' ? this.#fields[receiver.name]?.[node.args[1]] : undefined;
    return declared !== undefined && declared.startsWith('map<string,');
  }

  compile(node: ASTNode, scope: Scope): Fn | null {
    switch (node.op) {
      case 'value':
        return literal(node.args);
      case 'id':
        return this.#variable(node.args, scope);
      case '.':
        return this.#select(node.args[0], node.args[1], scope);
      case '[]':
        return this.#index(node.args[0], node.args[1], scope);
      case 'call':
        return this.#call(node.args[0], node.args[1], scope);
      case 'rcall':
        return this.#method(node.args[0], node.args[1], node.args[2], scope);
      case 'list':
        return this.#list(node.args, scope);
      case '?:':
        return this.#ternary(node.args[0], node.args[1], node.args[2], scope);
      case '&&':
      case '||':
        return this.#logical(node.op, node.args[0], node.args[1], scope);
      case '!_':
        return this.#not(node.args, scope);
      case '-_':
        return this.#negate(node.args, scope);
      case '==':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=':
      case 'in':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        return this.#binary(node.op, node.args[0], node.args[1], scope);
      default:
        return null;
    }
  }

  #variable(name: string, scope: Scope): Fn | null {
    const slot = scope.get(name);
    if (slot !== undefined) {
      const slots = this.#slots;
      return () => slots[slot];
    }
    if (!VARIABLES.has(name)) return null;
    switch (name) {
      case 'guest':
        return (v) => v.guest();
      case 'check':
        return (v) => v.check();
      case 'accounts':
        return (v) => v.accounts();
      default:
        return (v) => v.time();
    }
  }

  #select(receiver: ASTNode, field: string, scope: Scope): Fn | null {
    const t = typeOf(receiver);
    const of = this.compile(receiver, scope);
    if (of === null) return null;
    const fails = this.fails(of);
    // A field of our message types: the type checker let through only declared
    // fields, and the plain values carry them under the same names. A field of a
    // variable (guest.level) is read in one call. Each field is read by a function
    // of its own (tables below): a read by a computed name, shared by every field,
    // would be a megamorphic lookup.
    if (t?.kind === 'message' && t.name.startsWith('kopilka.')) {
      if (receiver.op === 'id' && !scope.has(receiver.args)) {
        const read = ownField(VARIABLE_FIELDS, `${receiver.args}.${field}`);
        if (read !== undefined) return read;
      }
      const get: (o: unknown) => unknown = ownField(FIELD_READERS, field) ?? ((o) => (o as Record<string, unknown>)[field]);
      if (!fails) return (v) => get(of(v));
      return this.#may((v) => {
        const o = of(v);
        return o === ERR ? ERR : get(o);
      });
    }
    if (isStringMap(t)) {
      if (!fails) return this.#may((v) => entry(of(v) as Record<string, unknown>, field));
      return this.#may((v) => {
        const m = of(v);
        return m === ERR ? ERR : entry(m as Record<string, unknown>, field);
      });
    }
    return null;
  }

  #index(receiver: ASTNode, key: ASTNode, scope: Scope): Fn | null {
    const t = typeOf(receiver);
    const of = this.compile(receiver, scope);
    const at = this.compile(key, scope);
    if (of === null || at === null) return null;
    if (t?.kind === 'list' && typeName(key) === 'int') {
      if (!this.fails(of) && !this.fails(at)) return this.#may((v) => element(of(v) as readonly unknown[], at(v) as number));
      return this.#may(both(of, at, (list, i) => element(list as readonly unknown[], i as number)));
    }
    if (isStringMap(t) && typeName(key) === 'string') {
      if (!this.fails(of) && !this.fails(at)) return this.#may((v) => entry(of(v) as Record<string, unknown>, at(v) as string));
      return this.#may(both(of, at, (m, k) => entry(m as Record<string, unknown>, k as string)));
    }
    return null;
  }

  #call(name: string, args: readonly ASTNode[], scope: Scope): Fn | null {
    if (args.length !== 1) return null;
    const arg = args[0]!;
    if (name === 'size') return this.#size(arg, scope);
    // has(m.key) on a map: is the key there (with a value)? The map itself is read as usual.
    if (name === 'has' && arg.op === '.' && this.#isStringMap(arg.args[0])) {
      const of = this.compile(arg.args[0], scope);
      const key = arg.args[1];
      if (of === null) return null;
      if (!this.fails(of)) return (v) => own(of(v) as Record<string, unknown>, key) !== undefined;
      return this.#may((v) => {
        const m = of(v);
        return m === ERR ? ERR : own(m as Record<string, unknown>, key) !== undefined;
      });
    }
    return null;
  }

  #size(of: ASTNode, scope: Scope): Fn | null {
    const t = typeOf(of);
    const value = this.compile(of, scope);
    if (value === null) return null;
    let size: (x: unknown) => number;
    if (t?.kind === 'list') size = (x) => (x as readonly unknown[]).length;
    else if (isStringMap(t)) size = (x) => Object.keys(x as object).length;
    else if (t?.name === 'string') size = (x) => codePoints(x as string);
    else return null;
    if (!this.fails(value)) {
      if (t?.kind === 'list') return (v) => (value(v) as readonly unknown[]).length;
      return (v) => size(value(v));
    }
    return this.#may((v) => {
      const x = value(v);
      return x === ERR ? ERR : size(x);
    });
  }

  #method(name: string, receiver: ASTNode, args: readonly ASTNode[], scope: Scope): Fn | null {
    if (name === 'size' && args.length === 0) return this.#size(receiver, scope);
    if ((name === 'startsWith' || name === 'endsWith' || name === 'contains') && args.length === 1) {
      if (typeName(receiver) !== 'string' || typeName(args[0]!) !== 'string') return null;
      const of = this.compile(receiver, scope);
      const arg = this.compile(args[0]!, scope);
      if (of === null || arg === null) return null;
      if (!this.fails(of) && !this.fails(arg)) {
        if (name === 'startsWith') return (v) => (of(v) as string).startsWith(arg(v) as string);
        if (name === 'endsWith') return (v) => (of(v) as string).endsWith(arg(v) as string);
        return (v) => (of(v) as string).includes(arg(v) as string);
      }
      // cel-js resolves a call's receiver and arguments last to first: the argument's error comes first.
      const op = name === 'startsWith' ? startsWith : name === 'endsWith' ? endsWith : contains;
      return this.#may(both(arg, of, (a, s) => op(s as string, a as string)));
    }
    if (args.length === 2 && args[0]!.op === 'id') return this.#macro(name, receiver, args[0]!.args as string, args[1]!, scope);
    return null;
  }

  /** exists, all, exists_one, filter, map over a list or a map's keys. */
  #macro(name: string, receiver: ASTNode, variable: string, body: ASTNode, scope: Scope): Fn | null {
    if (name !== 'map' && typeName(body) !== 'bool') return null;
    const t = typeOf(receiver);
    const of = this.compile(receiver, scope);
    if (of === null) return null;
    const ofFails = this.fails(of);
    let items: (v: PlainVariables) => unknown;
    if (t?.kind === 'list') items = of;
    else if (isStringMap(t)) {
      items = ofFails
        ? (v) => {
            const m = of(v);
            return m === ERR ? ERR : Object.keys(m as object);
          }
        : (v) => Object.keys(of(v) as object);
    } else return null;
    const slots = this.#slots;
    const slot = slots.length;
    slots.push(undefined);
    const test = this.compile(body, new Map(scope).set(variable, slot));
    if (test === null) return null;
    const fails = ofFails || this.fails(test);
    switch (name) {
      case 'exists':
      case 'all': {
        // exists stops at the first true, all at the first false. An erring element is
        // passed over; its error stands only when no element decides the answer.
        const decides = name === 'exists';
        return this.#may((v) => {
          const list = items(v) as readonly unknown[];
          if (list === ERR) return ERR;
          let first: string | null = null;
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            const r = test(v);
            if (r === decides) return decides;
            if (r === ERR) first ??= errorCode;
          }
          return first === null ? !decides : fail(first);
        }, fails);
      }
      case 'exists_one':
        return this.#may((v) => {
          const list = items(v) as readonly unknown[];
          if (list === ERR) return ERR;
          let count = 0;
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            const r = test(v);
            if (r === true) count++;
            else if (r === ERR) return ERR;
          }
          return count === 1;
        }, fails);
      case 'filter':
        return this.#may((v) => {
          const list = items(v) as readonly unknown[];
          if (list === ERR) return ERR;
          const out: unknown[] = [];
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            const r = test(v);
            if (r === true) out.push(list[i]);
            else if (r === ERR) return ERR;
          }
          return out;
        }, fails);
      case 'map':
        return this.#may((v) => {
          const list = items(v) as readonly unknown[];
          if (list === ERR) return ERR;
          const out = new Array<unknown>(list.length);
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            const r = test(v);
            if (r === ERR) return ERR;
            out[i] = r;
          }
          return out;
        }, fails);
      default:
        return null;
    }
  }

  #list(elements: readonly ASTNode[], scope: Scope): Fn | null {
    const fns: Fn[] = [];
    for (const e of elements) {
      const fn = PRIMITIVES.has(typeName(e) ?? '') ? this.compile(e, scope) : null;
      if (fn === null) return null;
      fns.push(fn);
    }
    // A list of literals (`["gold", "silver"]`) is made once; nothing changes a list.
    if (elements.every((e) => e.op === 'value')) {
      const constant = Object.freeze(fns.map((f) => f(NO_VARIABLES)));
      return () => constant;
    }
    if (!fns.some((f) => this.fails(f))) return (v) => fns.map((f) => f(v));
    // cel-js resolves a list's elements last to first.
    return this.#may((v) => {
      const out = new Array<unknown>(fns.length);
      for (let k = fns.length - 1; k >= 0; k--) {
        const x = fns[k]!(v);
        if (x === ERR) return ERR;
        out[k] = x;
      }
      return out;
    });
  }

  #ternary(condition: ASTNode, then: ASTNode, otherwise: ASTNode, scope: Scope): Fn | null {
    if (typeName(condition) !== 'bool') return null;
    const c = this.compile(condition, scope);
    const a = this.compile(then, scope);
    const b = this.compile(otherwise, scope);
    if (c === null || a === null || b === null) return null;
    if (!this.fails(c)) return this.#may((v) => (c(v) ? a(v) : b(v)), this.fails(a) || this.fails(b));
    return this.#may((v) => {
      const x = c(v);
      if (x === ERR) return ERR;
      return x ? a(v) : b(v);
    });
  }

  #logical(op: '&&' | '||', left: ASTNode, right: ASTNode, scope: Scope): Fn | null {
    if (typeName(left) !== 'bool' || typeName(right) !== 'bool') return null;
    const l = this.compile(left, scope);
    const r = this.compile(right, scope);
    if (l === null || r === null) return null;
    if (!this.fails(l)) return this.#may(op === '&&' ? (v) => l(v) === true && r(v) : (v) => l(v) === true || r(v), this.fails(r));
    // The left erred: the right decides when it can (false for &&, true for ||);
    // when it cannot, the left's error stands; when it errs too, its own.
    const decides = op === '||';
    return this.#may((v) => {
      const a = l(v);
      if (a !== ERR) return a === decides ? decides : r(v);
      const code = errorCode;
      const b = r(v);
      if (b === decides) return decides;
      if (b === ERR) return ERR;
      return fail(code);
    });
  }

  #not(operand: ASTNode, scope: Scope): Fn | null {
    const a = typeName(operand) === 'bool' ? this.compile(operand, scope) : null;
    if (a === null) return null;
    if (!this.fails(a)) return (v) => !a(v);
    return this.#may((v) => {
      const x = a(v);
      return x === ERR ? ERR : !x;
    });
  }

  #negate(operand: ASTNode, scope: Scope): Fn | null {
    const a = typeName(operand) === 'int' ? this.compile(operand, scope) : null;
    if (a === null) return null;
    if (!this.fails(a)) return (v) => -(a(v) as number);
    return this.#may((v) => {
      const x = a(v);
      return x === ERR ? ERR : -(x as number);
    });
  }

  #binary(op: string, left: ASTNode, right: ASTNode, scope: Scope): Fn | null {
    const lt = typeName(left);
    const rt = typeOf(right);
    const l = this.compile(left, scope);
    const r = this.compile(right, scope);
    if (l === null || r === null || lt === undefined || rt === undefined) return null;
    const checked = this.fails(l) || this.fails(r);
    if (op === 'in') {
      if (rt.kind === 'list' && rt.valueType?.name === lt && PRIMITIVES.has(lt)) {
        if (checked) return this.#may(both(l, r, (x, list) => (list as readonly unknown[]).includes(x)));
        return (v) => {
          const x = l(v);
          return (r(v) as readonly unknown[]).includes(x);
        };
      }
      if (isStringMap(rt) && lt === 'string') {
        if (checked) return this.#may(both(l, r, (k, m) => own(m as Record<string, unknown>, k as string) !== undefined));
        return (v) => {
          const k = l(v) as string;
          return own(r(v) as Record<string, unknown>, k) !== undefined;
        };
      }
      return null;
    }
    if (lt !== rt.name || !PRIMITIVES.has(lt)) return null;
    const fn = binaryOf(op, lt);
    if (fn === null) return null;
    // Division and modulo may stop on a zero divisor (not on a literal one other than 0).
    const mayFail = checked || ((op === '/' || op === '%') && !(right.op === 'value' && r(NO_VARIABLES) !== 0));
    if (checked) return this.#may(both(l, r, fn));
    if (right.op === 'value') {
      const c = r(NO_VARIABLES);
      const compared = compareWith(op, l, c);
      if (compared !== null) return compared;
    }
    switch (op) {
      case '==':
        return (v) => l(v) === r(v);
      case '!=':
        return (v) => l(v) !== r(v);
      case '<':
        return (v) => (l(v) as number) < (r(v) as number);
      case '<=':
        return (v) => (l(v) as number) <= (r(v) as number);
      case '>':
        return (v) => (l(v) as number) > (r(v) as number);
      case '>=':
        return (v) => (l(v) as number) >= (r(v) as number);
    }
    if (lt === 'string') return (v) => (l(v) as string) + (r(v) as string);
    switch (op) {
      case '+':
        return (v) => exact((l(v) as number) + (r(v) as number));
      case '-':
        return (v) => exact((l(v) as number) - (r(v) as number));
      case '*':
        return (v) => exact((l(v) as number) * (r(v) as number));
      case '/':
        return this.#may((v) => divide(l(v) as number, r(v) as number), mayFail);
      default:
        return this.#may((v) => modulo(l(v) as number, r(v) as number), mayFail);
    }
  }
}

/** A binary operator of CEL on two values of type `t` (int, string or bool), or null when not compiled. */
function binaryOf(op: string, t: string): ((a: unknown, b: unknown) => unknown) | null {
  switch (op) {
    case '==':
      return (a, b) => a === b;
    case '!=':
      return (a, b) => a !== b;
    case '<':
      return (a, b) => (a as number) < (b as number);
    case '<=':
      return (a, b) => (a as number) <= (b as number);
    case '>':
      return (a, b) => (a as number) > (b as number);
    case '>=':
      return (a, b) => (a as number) >= (b as number);
  }
  if (t === 'string') return op === '+' ? (a, b) => (a as string) + (b as string) : null;
  if (t !== 'int') return null;
  switch (op) {
    case '+':
      return (a, b) => exact((a as number) + (b as number));
    case '-':
      return (a, b) => exact((a as number) - (b as number));
    case '*':
      return (a, b) => exact((a as number) * (b as number));
    case '/':
      return (a, b) => divide(a as number, b as number);
    case '%':
      return (a, b) => modulo(a as number, b as number);
    default:
      return null;
  }
}

/**
 * A comparison with a literal on the right (`check.total > 100000`, the usual
 * shape), the literal held in the closure: one call less per evaluation.
 */
function compareWith(op: string, l: Fn, c: unknown): Fn | null {
  switch (op) {
    case '==':
      return (v) => l(v) === c;
    case '!=':
      return (v) => l(v) !== c;
    case '<':
      return (v) => (l(v) as number) < (c as number);
    case '<=':
      return (v) => (l(v) as number) <= (c as number);
    case '>':
      return (v) => (l(v) as number) > (c as number);
    case '>=':
      return (v) => (l(v) as number) >= (c as number);
    default:
      return null;
  }
}

/** Never read: literals and lists of literals are evaluated once at compile time, without variables. */
const NO_VARIABLES = {} as PlainVariables;

function ownField<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** `variable.field` → its reader: one function per field, so every read is monomorphic. */
const VARIABLE_FIELDS: Readonly<Record<string, Fn>> = Object.freeze({
  'guest.id': (v: PlainVariables) => v.guest().id,
  'guest.level': (v: PlainVariables) => v.guest().level,
  'guest.tags': (v: PlainVariables) => v.guest().tags,
  'guest.segments': (v: PlainVariables) => v.guest().segments,
  'guest.age': (v: PlainVariables) => v.guest().age,
  'guest.birthday': (v: PlainVariables) => v.guest().birthday,
  'guest.registeredDays': (v: PlainVariables) => v.guest().registeredDays,
  'guest.cardType': (v: PlainVariables) => v.guest().cardType,
  'guest.attributes': (v: PlainVariables) => v.guest().attributes,
  'guest.counters': (v: PlainVariables) => v.guest().counters,
  'check.total': (v: PlainVariables) => v.check().total,
  'check.currency': (v: PlainVariables) => v.check().currency,
  'check.organization': (v: PlainVariables) => v.check().organization,
  'check.partner': (v: PlainVariables) => v.check().partner,
  'check.outlet': (v: PlainVariables) => v.check().outlet,
  'check.terminal': (v: PlainVariables) => v.check().terminal,
  'check.outletTags': (v: PlainVariables) => v.check().outletTags,
  'check.quantity': (v: PlainVariables) => v.check().quantity,
  'check.lines': (v: PlainVariables) => v.check().lines,
  'time.year': (v: PlainVariables) => v.time().year,
  'time.month': (v: PlainVariables) => v.time().month,
  'time.day': (v: PlainVariables) => v.time().day,
  'time.weekday': (v: PlainVariables) => v.time().weekday,
  'time.hour': (v: PlainVariables) => v.time().hour,
  'time.minute': (v: PlainVariables) => v.time().minute,
  'time.date': (v: PlainVariables) => v.time().date,
  'time.epochMs': (v: PlainVariables) => v.time().epochMs,
});

/** A field of a message value that is no variable (a line of check.lines), by name. */
const FIELD_READERS: Readonly<Record<string, (o: unknown) => unknown>> = Object.freeze({
  itemCode: (o: unknown) => (o as CelLine).itemCode,
  category: (o: unknown) => (o as CelLine).category,
  tags: (o: unknown) => (o as CelLine).tags,
  quantity: (o: unknown) => (o as CelLine).quantity,
  unitPrice: (o: unknown) => (o as CelLine).unitPrice,
  sum: (o: unknown) => (o as CelLine).sum,
  pos: (o: unknown) => (o as CelLine).pos,
});

type CelLine = CelData['check']['lines'][number];

function literal(value: unknown): Fn | null {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? () => n : null;
  }
  if (typeof value === 'string' || typeof value === 'boolean') return () => value;
  return null;
}

function own(map: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined;
}

/** A map's value; a missing key is cel-js's no_such_key. */
function entry(map: Record<string, unknown>, key: string): unknown {
  const value = own(map, key);
  return value === undefined ? fail('no_such_key') : value;
}

/** A list's element; an index out of range (negative too) is cel-js's index_out_of_bounds. */
function element(list: readonly unknown[], i: number): unknown {
  return i >= 0 && i < list.length ? list[i] : fail('index_out_of_bounds');
}

function startsWith(s: string, prefix: string): boolean {
  return s.startsWith(prefix);
}

function endsWith(s: string, suffix: string): boolean {
  return s.endsWith(suffix);
}

function contains(s: string, part: string): boolean {
  return s.includes(part);
}

/**
 * An int result, exact: the operands are integers, so a sum, difference or product
 * that is a safe integer as a double is the exact one (rounding is monotonic and
 * ±2^53 are doubles); beyond, BigInt arithmetic (and its overflow check) decides.
 */
function exact(result: number): number {
  if (!Number.isSafeInteger(result)) throw NOT_HERE;
  return result;
}

/**
 * CEL int division truncates; exact for safe integers (a quotient of two cannot
 * round across an integer). A zero divisor is cel-js's division_by_zero whatever
 * the dividend; other ints beyond 2^53 go to cel-js.
 */
function divide(a: number, b: number): unknown {
  if (b === 0) return fail('division_by_zero');
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw NOT_HERE;
  return Math.trunc(a / b);
}

/** The remainder takes the dividend's sign, as BigInt's does; fmod of integer doubles is exact. */
function modulo(a: number, b: number): unknown {
  return b === 0 ? fail('modulo_by_zero') : a % b;
}

/** CEL's size of a string counts code points. */
function codePoints(s: string): number {
  let count = 0;
  for (const _ of s) count++;
  return count;
}

// --- The plain variables: are they what cel.ts's typed copies would hold? ---------

function isInt(x: unknown): boolean {
  return typeof x === 'number' && Number.isInteger(x);
}

function isStrings(x: unknown): boolean {
  if (!Array.isArray(x)) return false;
  for (let i = 0; i < x.length; i++) if (typeof x[i] !== 'string') return false;
  return true;
}

/** A plain object: its own enumerable keys are all it has, as in the Map cel.ts copies it into. */
function isRecord(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

// for-in rather than Object.keys (no array per check): a plain object enumerates
// its own keys, and an inherited enumerable one can only make the check fail.
function isIntRecord(x: unknown): boolean {
  if (!isRecord(x)) return false;
  for (const k in x) if (!isInt(x[k])) return false;
  return true;
}

/** String values; an undefined one reads as absent in the Map as well. */
function isStringRecord(x: unknown): boolean {
  if (!isRecord(x)) return false;
  for (const k in x) if (typeof x[k] !== 'string' && x[k] !== undefined) return false;
  return true;
}

export function plainGuest(g: CelData['guest']): boolean {
  return (
    typeof g.id === 'string' &&
    typeof g.level === 'string' &&
    isStrings(g.tags) &&
    isStrings(g.segments) &&
    isInt(g.age) &&
    typeof g.birthday === 'string' &&
    isInt(g.registeredDays) &&
    typeof g.cardType === 'string' &&
    isStringRecord(g.attributes) &&
    isIntRecord(g.counters)
  );
}

export function plainCheck(c: CelData['check']): boolean {
  const scalars =
    isInt(c.total) &&
    typeof c.currency === 'string' &&
    typeof c.organization === 'string' &&
    typeof c.partner === 'string' &&
    typeof c.outlet === 'string' &&
    typeof c.terminal === 'string' &&
    isStrings(c.outletTags) &&
    isInt(c.quantity) &&
    Array.isArray(c.lines);
  if (!scalars) return false;
  for (const l of c.lines) {
    const plain =
      typeof l.itemCode === 'string' &&
      typeof l.category === 'string' &&
      isStrings(l.tags) &&
      isInt(l.quantity) &&
      isInt(l.unitPrice) &&
      isInt(l.sum) &&
      typeof l.pos === 'boolean';
    if (!plain) return false;
  }
  return true;
}

export function plainAccounts(a: CelData['accounts']): boolean {
  return isIntRecord(a);
}

export function plainTime(t: CelData['time']): boolean {
  return isInt(t.year) && isInt(t.month) && isInt(t.day) && isInt(t.weekday) && isInt(t.hour) && isInt(t.minute) && typeof t.date === 'string' && isInt(t.epochMs);
}
