// Compiled CEL: a type-checked expression turned into plain closures over the plain
// variables (numbers for ints), for the shapes promotion conditions are made of:
// field reads, comparisons, && || ! ?:, int arithmetic, `in`, size, startsWith /
// endsWith / contains, has() on maps, and the macros exists, all, exists_one,
// filter and map. cel-js interprets its AST and works on typed copies of the
// variables with BigInt ints, about a microsecond per condition; a compiled one
// takes a few dozen nanoseconds.
//
// A compiled program gives cel-js's outcome or steps aside: whatever it does not
// decide exactly throws NOT_HERE, and the program runs in cel-js, which then gives
// the answer (or the error code):
//   - every runtime error (a missing key, an index out of range, division by zero):
//     cel-js may absorb it (`false && …`, `exists` over an erring element) or name it;
//   - an int result beyond ±(2^53 − 1), where a double is no longer exact;
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

export type CompiledCel = (vars: PlainVariables) => boolean;

/** Message type → field → declared type, as registered with cel-js. */
export type MessageFields = Readonly<Record<string, Readonly<Record<string, string>>>>;

type Fn = (vars: PlainVariables) => unknown;

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
  const fn = new Compiler(fields).compile(ast, new Map());
  return fn === null ? null : (fn as CompiledCel);
}

type Scope = ReadonlyMap<string, number>;

class Compiler {
  readonly #fields: MessageFields;
  /** The values of comprehension variables, one slot per comprehension of the expression. */
  readonly #slots: unknown[] = [];

  constructor(fields: MessageFields) {
    this.#fields = fields;
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
    // A field of our message types: the type checker let through only declared
    // fields, and the plain values carry them under the same names. A field of a
    // variable (guest.level) is read in one call.
    if (t?.kind === 'message' && t.name.startsWith('kopilka.')) {
      if (receiver.op === 'id' && !scope.has(receiver.args)) return variableField(receiver.args, field) ?? ((v) => (of(v) as Record<string, unknown>)[field]);
      return (v) => (of(v) as Record<string, unknown>)[field];
    }
    if (isStringMap(t)) return (v) => entry(of(v) as Record<string, unknown>, field);
    return null;
  }

  #index(receiver: ASTNode, key: ASTNode, scope: Scope): Fn | null {
    const t = typeOf(receiver);
    const of = this.compile(receiver, scope);
    const at = this.compile(key, scope);
    if (of === null || at === null) return null;
    if (t?.kind === 'list' && typeName(key) === 'int') {
      return (v) => {
        const list = of(v) as readonly unknown[];
        const i = at(v) as number;
        if (!(i >= 0 && i < list.length)) throw NOT_HERE; // index_out_of_bounds
        return list[i];
      };
    }
    if (isStringMap(t) && typeName(key) === 'string') return (v) => entry(of(v) as Record<string, unknown>, at(v) as string);
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
      return of === null ? null : (v) => own(of(v) as Record<string, unknown>, key) !== undefined;
    }
    return null;
  }

  #size(of: ASTNode, scope: Scope): Fn | null {
    const t = typeOf(of);
    const value = this.compile(of, scope);
    if (value === null) return null;
    if (t?.kind === 'list') return (v) => (value(v) as readonly unknown[]).length;
    if (isStringMap(t)) return (v) => Object.keys(value(v) as object).length;
    if (t?.name === 'string') return (v) => codePoints(value(v) as string);
    return null;
  }

  #method(name: string, receiver: ASTNode, args: readonly ASTNode[], scope: Scope): Fn | null {
    if (name === 'size' && args.length === 0) return this.#size(receiver, scope);
    if ((name === 'startsWith' || name === 'endsWith' || name === 'contains') && args.length === 1) {
      if (typeName(receiver) !== 'string' || typeName(args[0]!) !== 'string') return null;
      const of = this.compile(receiver, scope);
      const arg = this.compile(args[0]!, scope);
      if (of === null || arg === null) return null;
      if (name === 'startsWith') return (v) => (of(v) as string).startsWith(arg(v) as string);
      if (name === 'endsWith') return (v) => (of(v) as string).endsWith(arg(v) as string);
      return (v) => (of(v) as string).includes(arg(v) as string);
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
    let items: (v: PlainVariables) => readonly unknown[];
    if (t?.kind === 'list') items = (v) => of(v) as readonly unknown[];
    else if (isStringMap(t)) items = (v) => Object.keys(of(v) as object);
    else return null;
    const slots = this.#slots;
    const slot = slots.length;
    slots.push(undefined);
    const test = this.compile(body, new Map(scope).set(variable, slot));
    if (test === null) return null;
    switch (name) {
      case 'exists':
        return (v) => {
          const list = items(v);
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            if (test(v) === true) return true;
          }
          return false;
        };
      case 'all':
        return (v) => {
          const list = items(v);
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            if (test(v) === false) return false;
          }
          return true;
        };
      case 'exists_one':
        return (v) => {
          const list = items(v);
          let count = 0;
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            if (test(v) === true) count++;
          }
          return count === 1;
        };
      case 'filter':
        return (v) => {
          const list = items(v);
          const out: unknown[] = [];
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            if (test(v) === true) out.push(list[i]);
          }
          return out;
        };
      case 'map':
        return (v) => {
          const list = items(v);
          const out = new Array<unknown>(list.length);
          for (let i = 0; i < list.length; i++) {
            slots[slot] = list[i];
            out[i] = test(v);
          }
          return out;
        };
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
    return (v) => fns.map((f) => f(v));
  }

  #ternary(condition: ASTNode, then: ASTNode, otherwise: ASTNode, scope: Scope): Fn | null {
    if (typeName(condition) !== 'bool') return null;
    const c = this.compile(condition, scope);
    const a = this.compile(then, scope);
    const b = this.compile(otherwise, scope);
    if (c === null || a === null || b === null) return null;
    return (v) => (c(v) ? a(v) : b(v));
  }

  #logical(op: '&&' | '||', left: ASTNode, right: ASTNode, scope: Scope): Fn | null {
    if (typeName(left) !== 'bool' || typeName(right) !== 'bool') return null;
    const l = this.compile(left, scope);
    const r = this.compile(right, scope);
    if (l === null || r === null) return null;
    return op === '&&' ? (v) => l(v) === true && r(v) : (v) => l(v) === true || r(v);
  }

  #not(operand: ASTNode, scope: Scope): Fn | null {
    const a = typeName(operand) === 'bool' ? this.compile(operand, scope) : null;
    return a === null ? null : (v) => !a(v);
  }

  #negate(operand: ASTNode, scope: Scope): Fn | null {
    const a = typeName(operand) === 'int' ? this.compile(operand, scope) : null;
    return a === null ? null : (v) => -(a(v) as number);
  }

  #binary(op: string, left: ASTNode, right: ASTNode, scope: Scope): Fn | null {
    const lt = typeName(left);
    const rt = typeOf(right);
    const l = this.compile(left, scope);
    const r = this.compile(right, scope);
    if (l === null || r === null || lt === undefined || rt === undefined) return null;
    if (op === 'in') {
      if (rt.kind === 'list' && rt.valueType?.name === lt && PRIMITIVES.has(lt)) return (v) => (r(v) as readonly unknown[]).includes(l(v));
      if (isStringMap(rt) && lt === 'string') return (v) => own(r(v) as Record<string, unknown>, l(v) as string) !== undefined;
      return null;
    }
    if (lt !== rt.name || !PRIMITIVES.has(lt)) return null;
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
    if (lt === 'string') return op === '+' ? (v) => (l(v) as string) + (r(v) as string) : null;
    if (lt !== 'int') return null;
    switch (op) {
      case '+':
        return (v) => exact((l(v) as number) + (r(v) as number));
      case '-':
        return (v) => exact((l(v) as number) - (r(v) as number));
      case '*':
        return (v) => exact((l(v) as number) * (r(v) as number));
      case '/':
        return (v) => divide(l(v) as number, r(v) as number);
      case '%':
        return (v) => modulo(l(v) as number, r(v) as number);
      default:
        return null;
    }
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

function variableField(name: string, field: string): Fn | null {
  switch (name) {
    case 'guest':
      return (v) => (v.guest() as unknown as Record<string, unknown>)[field];
    case 'check':
      return (v) => (v.check() as unknown as Record<string, unknown>)[field];
    case 'time':
      return (v) => (v.time() as unknown as Record<string, unknown>)[field];
    default:
      return null;
  }
}

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
  if (value === undefined) throw NOT_HERE;
  return value;
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

/** CEL int division truncates; exact for safe integers (a quotient of two cannot round across an integer). */
function divide(a: number, b: number): number {
  if (b === 0 || !Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw NOT_HERE; // division_by_zero, or inexact
  return Math.trunc(a / b);
}

/** The remainder takes the dividend's sign, as BigInt's does; fmod of integer doubles is exact. */
function modulo(a: number, b: number): number {
  if (b === 0) throw NOT_HERE; // modulo_by_zero
  return a % b;
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
