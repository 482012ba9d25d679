// Custom rules in CEL (Common Expression Language) through @marcbachmann/cel-js,
// pinned at 8.0.0 in package.json: cel-js 0.8.2 lets `check.__proto__.constructor`
// out of its sandbox; this one does not (test/rules/cel.test.ts tries).
//
// An expression sees four variables, all read-only values built afresh per
// evaluation (so nothing an expression touches is ours):
//   guest     kopilka.Guest   id, level, tags, segments, age (years, -1 unknown),
//                             birthday ("MM-DD", "" unknown), registeredDays (-1 unknown),
//                             cardType, attributes map<string,string>, counters map<string,int>
//   check     kopilka.Check   total (minor units, before our discounts), currency, organization,
//                             partner, outlet, terminal, outletTags, quantity (units), lines
//   check.lines[i] kopilka.Line  itemCode, category, tags, quantity, unitPrice, sum, pos (POS promotion)
//   accounts  map<string,int> balance of each account in its units (points: hundredths;
//                             a discount account: the guest's level, basis points)
//   time      kopilka.Time    local parts: year, month 1..12, day, weekday 1=Mon..7=Sun,
//                             hour, minute, date "YYYY-MM-DD", epochMs
// Absent strings are "", absent lists and maps are empty, so every field exists.
//
// Safety: an expression is compiled once per configuration version and must
// type-check to bool against these declarations (unknown fields such as
// `__proto__` or `constructor` fail there, with a position). Parsing is bounded
// (source chars, AST nodes, depth, literal sizes: limits.ts); a static cost bound
// refuses a comprehension nested over the lines of another; `matches` is refused
// since a regular expression may backtrack for seconds. CEL has no loops, I/O or
// host access; runtime errors (division by zero, a missing map key) make the
// condition false and are reported in the explanation, never thrown.
//
// Speed: an expression of the usual shapes is also compiled to closures
// (cel-fast.ts) that read the plain values (CelData) and never write them; they
// give cel-js's outcome, its usual runtime errors included (a missing map key, an
// index out of range, division by zero: decided without throwing, as a guest
// without counters or attributes makes them common), or leave the run to cel-js,
// so cel-js remains the definition of every outcome.

import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { compileFast, NOT_HERE, plainAccounts, plainCheck, plainGuest, plainTime, type CompiledCel, type MessageFields, type PlainVariables } from './cel-fast.js';
import * as L from './limits.js';

export interface CelSourceError {
  /** Stable code from the parser / type checker or ours: `limit_exceeded`, `not_bool`, `forbidden_function`, `too_costly`. */
  code: string;
  /** Character offsets into the source, end exclusive. */
  start: number;
  end: number;
  /** 1-based line and column of `start`. */
  line: number;
  column: number;
  message: string;
}

/** A runtime outcome: true, false, or the code of the error that stopped it (the condition then fails). */
export type CelOutcome = boolean | string;

export interface CelProgram {
  readonly source: string;
  /** Whether it is compiled to closures (cel-fast.ts); else every run is cel-js's. */
  readonly compiled: boolean;
  /** cel-js on typed values: the reference. */
  run(activation: CelActivation): CelOutcome;
  /** The same outcome on one evaluation's variables: compiled when it can be, else through cel-js. */
  runOn(input: CelInput): CelOutcome;
}

export type CelCompileResult = { ok: true; program: CelProgram } | { ok: false; error: CelSourceError };

// --- Data: the plain shape (numbers) both implementations are fed from ------

export interface CelLineData {
  itemCode: string;
  category: string;
  tags: readonly string[];
  quantity: number;
  unitPrice: number;
  sum: number;
  pos: boolean;
}

export interface CelData {
  guest: {
    id: string;
    level: string;
    tags: readonly string[];
    segments: readonly string[];
    age: number;
    birthday: string;
    registeredDays: number;
    cardType: string;
    attributes: Readonly<Record<string, string>>;
    counters: Readonly<Record<string, number>>;
  };
  check: {
    total: number;
    currency: string;
    organization: string;
    partner: string;
    outlet: string;
    terminal: string;
    outletTags: readonly string[];
    quantity: number;
    lines: readonly CelLineData[];
  };
  accounts: Readonly<Record<string, number>>;
  time: {
    year: number;
    month: number;
    day: number;
    weekday: number;
    hour: number;
    minute: number;
    date: string;
    epochMs: number;
  };
}

// --- Typed values (cel-js checks a declared type by constructor) ------------

class CelGuest {
  constructor(
    readonly id: string,
    readonly level: string,
    readonly tags: string[],
    readonly segments: string[],
    readonly age: bigint,
    readonly birthday: string,
    readonly registeredDays: bigint,
    readonly cardType: string,
    readonly attributes: Map<string, string>,
    readonly counters: Map<string, bigint>,
  ) {}
}

class CelLine {
  constructor(
    readonly itemCode: string,
    readonly category: string,
    readonly tags: string[],
    readonly quantity: bigint,
    readonly unitPrice: bigint,
    readonly sum: bigint,
    readonly pos: boolean,
  ) {}
}

class CelCheck {
  constructor(
    readonly total: bigint,
    readonly currency: string,
    readonly organization: string,
    readonly partner: string,
    readonly outlet: string,
    readonly terminal: string,
    readonly outletTags: string[],
    readonly quantity: bigint,
    readonly lines: CelLine[],
  ) {}
}

class CelTime {
  constructor(
    readonly year: bigint,
    readonly month: bigint,
    readonly day: bigint,
    readonly weekday: bigint,
    readonly hour: bigint,
    readonly minute: bigint,
    readonly date: string,
    readonly epochMs: bigint,
  ) {}
}

export interface CelActivation {
  readonly guest: CelGuest;
  readonly check: CelCheck;
  readonly accounts: Map<string, bigint>;
  readonly time: CelTime;
}

function strings(list: readonly string[]): string[] {
  return list.slice();
}

// Maps go in as Map: a plain object's keys could shadow `constructor`, which cel-js
// reads to tell a value's type; a Map's keys are only data.
function stringMap(record: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of Object.keys(record)) out.set(k, record[k]!);
  return out;
}

function intMap(record: Readonly<Record<string, number>>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const k of Object.keys(record)) out.set(k, BigInt(record[k]!));
  return out;
}

/** The typed values our programs run on; fresh copies, so an expression holds nothing of the caller's. */
export function celActivation(d: CelData): CelActivation {
  return { guest: celGuest(d.guest), check: celCheck(d.check), accounts: celAccounts(d.accounts), time: celTime(d.time) };
}

/**
 * An activation whose variables are built when an expression first reads them
 * (cel-js reads a variable as a property of the context): `time.hour >= 18`
 * never converts the lines of the check. `data` is asked once, on first need.
 */
export class LazyCelActivation implements CelActivation {
  #data: CelData | undefined;
  #guest: CelGuest | undefined;
  #check: CelCheck | undefined;
  #accounts: Map<string, bigint> | undefined;
  #time: CelTime | undefined;
  constructor(private readonly source: () => CelData) {}
  private get data(): CelData {
    return (this.#data ??= this.source());
  }
  get guest(): CelGuest {
    return (this.#guest ??= celGuest(this.data.guest));
  }
  get check(): CelCheck {
    return (this.#check ??= celCheck(this.data.check));
  }
  get accounts(): Map<string, bigint> {
    return (this.#accounts ??= celAccounts(this.data.accounts));
  }
  get time(): CelTime {
    return (this.#time ??= celTime(this.data.time));
  }
}

/**
 * One evaluation's CEL variables, built on first read (`source` is asked on the
 * first read of any variable, as cel-js's activation asks it): plain for compiled
 * programs, each variable checked once to be what its typed copy would hold; typed
 * for cel-js, made only when a program runs there.
 */
export class CelInput implements PlainVariables {
  readonly #source: () => CelData;
  #data: CelData | undefined;
  #activation: CelActivation | undefined;
  #guest: boolean | undefined;
  #check: boolean | undefined;
  #accounts: boolean | undefined;
  #time: boolean | undefined;
  constructor(source: () => CelData) {
    this.#source = source;
  }
  get data(): CelData {
    return (this.#data ??= this.#source());
  }
  activation(): CelActivation {
    return (this.#activation ??= new LazyCelActivation(() => this.data));
  }
  guest(): CelData['guest'] {
    const g = this.data.guest;
    if (!(this.#guest ??= plainGuest(g))) throw NOT_HERE;
    return g;
  }
  check(): CelData['check'] {
    const c = this.data.check;
    if (!(this.#check ??= plainCheck(c))) throw NOT_HERE;
    return c;
  }
  accounts(): CelData['accounts'] {
    const a = this.data.accounts;
    if (!(this.#accounts ??= plainAccounts(a))) throw NOT_HERE;
    return a;
  }
  time(): CelData['time'] {
    const t = this.data.time;
    if (!(this.#time ??= plainTime(t))) throw NOT_HERE;
    return t;
  }
}

function celGuest(g: CelData['guest']): CelGuest {
  return new CelGuest(g.id, g.level, strings(g.tags), strings(g.segments), BigInt(g.age), g.birthday, BigInt(g.registeredDays), g.cardType, stringMap(g.attributes), intMap(g.counters));
}

function celCheck(c: CelData['check']): CelCheck {
  const lines = new Array<CelLine>(c.lines.length);
  for (let i = 0; i < lines.length; i++) {
    const l = c.lines[i]!;
    // Frozen tags (the catalog's) are shared as they are; others are copied.
    lines[i] = new CelLine(l.itemCode, l.category, Object.isFrozen(l.tags) ? (l.tags as string[]) : strings(l.tags), BigInt(l.quantity), BigInt(l.unitPrice), BigInt(l.sum), l.pos);
  }
  return new CelCheck(BigInt(c.total), c.currency, c.organization, c.partner, c.outlet, c.terminal, strings(c.outletTags), BigInt(c.quantity), lines);
}

function celAccounts(a: CelData['accounts']): Map<string, bigint> {
  return intMap(a);
}

function celTime(t: CelData['time']): CelTime {
  return new CelTime(BigInt(t.year), BigInt(t.month), BigInt(t.day), BigInt(t.weekday), BigInt(t.hour), BigInt(t.minute), t.date, BigInt(t.epochMs));
}

/**
 * The same values as plain objects with BigInt integers: the bindings a reference
 * CEL implementation (@bufbuild/cel in the conformance test) takes as maps.
 */
export function celPlainBindings(d: CelData): Record<string, unknown> {
  const a = celActivation(d);
  const plain = (o: object): Record<string, unknown> => ({ ...o });
  return {
    guest: plain(a.guest),
    check: { ...plain(a.check), lines: a.check.lines.map(plain) },
    accounts: a.accounts,
    time: plain(a.time),
  };
}

// --- The environment: declared once per process ------------------------------

/** The fields of the message types, as declared to cel-js (compiled programs read them too). */
const FIELDS = {
  'kopilka.Line': { itemCode: 'string', category: 'string', tags: 'list<string>', quantity: 'int', unitPrice: 'int', sum: 'int', pos: 'bool' },
  'kopilka.Guest': {
    id: 'string',
    level: 'string',
    tags: 'list<string>',
    segments: 'list<string>',
    age: 'int',
    birthday: 'string',
    registeredDays: 'int',
    cardType: 'string',
    attributes: 'map<string, string>',
    counters: 'map<string, int>',
  },
  'kopilka.Check': {
    total: 'int',
    currency: 'string',
    organization: 'string',
    partner: 'string',
    outlet: 'string',
    terminal: 'string',
    outletTags: 'list<string>',
    quantity: 'int',
    lines: 'list<kopilka.Line>',
  },
  'kopilka.Time': { year: 'int', month: 'int', day: 'int', weekday: 'int', hour: 'int', minute: 'int', date: 'string', epochMs: 'int' },
} as const satisfies MessageFields;

const environment = new Environment({
  limits: {
    maxAstNodes: L.cel_ast_nodes_max,
    maxDepth: L.cel_depth_max,
    maxListElements: L.cel_list_elements_max,
    maxMapEntries: L.cel_map_entries_max,
    maxCallArguments: L.cel_call_arguments_max,
  },
})
  .registerType('kopilka.Line', { ctor: CelLine, fields: FIELDS['kopilka.Line'] })
  .registerType('kopilka.Guest', { ctor: CelGuest, fields: FIELDS['kopilka.Guest'] })
  .registerType('kopilka.Check', { ctor: CelCheck, fields: FIELDS['kopilka.Check'] })
  .registerType('kopilka.Time', { ctor: CelTime, fields: FIELDS['kopilka.Time'] })
  .registerVariable('guest', 'kopilka.Guest')
  .registerVariable('check', 'kopilka.Check')
  .registerVariable('accounts', 'map<string, int>')
  .registerVariable('time', 'kopilka.Time');

// --- Static checks of our own ------------------------------------------------

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);
/** Regular expressions may backtrack catastrophically; tags, startsWith and contains cover the use. */
const FORBIDDEN_FUNCTIONS = new Set(['matches']);

function children(node: ASTNode): ASTNode[] {
  switch (node.op) {
    case 'value':
    case 'id':
      return [];
    case '.':
    case '.?':
      return [node.args[0]];
    case 'call':
      return node.args[1];
    case 'rcall':
      return [node.args[1], ...node.args[2]];
    case 'list':
      return node.args;
    case 'map':
      return node.args.flat();
    case '!_':
    case '-_':
      return [node.args];
    default:
      return node.args as ASTNode[];
  }
}

/** The most elements a list- or map-valued expression may hold. */
function sizeBound(node: ASTNode): number {
  if (node.op === 'list') return node.args.length;
  if (node.op === 'map') return node.args.length;
  if (node.op === 'rcall' && (node.args[0] === 'map' || node.args[0] === 'filter')) return sizeBound(node.args[1]);
  return L.cel_context_list_max;
}

interface Finding {
  code: string;
  node: ASTNode;
  message: string;
}

/** Nodes visited, a comprehension's body once per element it may range over. */
function cost(node: ASTNode, found: Finding[]): number {
  if ((node.op === 'call' || node.op === 'rcall') && FORBIDDEN_FUNCTIONS.has(node.args[0])) {
    found.push({ code: 'forbidden_function', node, message: `${node.args[0]}() is not allowed (a regular expression may run for seconds); use startsWith, endsWith, contains or tags` });
  }
  if (node.op === 'rcall' && COMPREHENSIONS.has(node.args[0]) && node.args[2].length >= 2) {
    let body = 0;
    for (const a of node.args[2]) body += cost(a, found);
    return 1 + cost(node.args[1], found) + sizeBound(node.args[1]) * body;
  }
  let sum = 1;
  for (const c of children(node)) sum += cost(c, found);
  return sum;
}

function lineColumn(source: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

function sourceError(source: string, code: string, start: number, end: number, summary: string): CelSourceError {
  const { line, column } = lineColumn(source, start);
  return { code, start, end, line, column, message: `${summary} (at ${line}:${column})` };
}

interface CelLibError {
  code?: string;
  range?: { start: number; end: number };
  summary?: string;
  message: string;
}

function fromLibError(source: string, e: unknown): CelSourceError {
  const err = e as CelLibError;
  const start = err.range?.start ?? 0;
  const end = err.range?.end ?? source.length;
  return sourceError(source, err.code ?? 'invalid', start, end, err.summary ?? err.message.split('\n')[0]!);
}

/** Parses, type-checks and bounds a CEL condition. Never throws for a bad source. */
export function compileCel(source: string): CelCompileResult {
  if (source.length === 0 || source.length > L.cel_source_chars_max) {
    return { ok: false, error: sourceError(source, 'limit_exceeded', 0, source.length, `must be 1..${L.cel_source_chars_max} characters`) };
  }
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = environment.parse(source);
  } catch (e) {
    return { ok: false, error: fromLibError(source, e) };
  }
  const found: Finding[] = [];
  const estimate = cost(parsed.ast, found);
  if (found.length > 0) {
    const f = found[0]!;
    return { ok: false, error: sourceError(source, f.code, f.node.range.start, f.node.range.end, f.message) };
  }
  if (estimate > L.cel_cost_max) {
    return {
      ok: false,
      error: sourceError(source, 'too_costly', 0, source.length, `costs up to ${estimate} steps, more than ${L.cel_cost_max}; do not nest a comprehension over the lines inside another`),
    };
  }
  // check() also marks the AST as checked, so evaluation skips the runtime type check.
  const checked = parsed.check();
  if (!checked.valid) return { ok: false, error: fromLibError(source, checked.error) };
  if (checked.type !== 'bool') {
    return { ok: false, error: sourceError(source, 'not_bool', 0, source.length, `must be a condition (bool), but is ${checked.type}`) };
  }
  const fn = parsed;
  const fast: CompiledCel | null = compileFast(parsed.ast, FIELDS);
  const run = (activation: CelActivation): CelOutcome => {
    try {
      return fn(activation) === true;
    } catch (e) {
      return typeof (e as CelLibError).code === 'string' ? (e as CelLibError).code! : 'evaluation_error';
    }
  };
  return {
    ok: true,
    program: {
      source,
      compiled: fast !== null,
      run,
      runOn(input: CelInput): CelOutcome {
        if (fast !== null) {
          // Whatever stops the compiled program (NOT_HERE, or the variables' source
          // throwing) is for cel-js to decide, as it would alone.
          try {
            return fast(input);
          } catch {
            // cel-js below
          }
        }
        return run(input.activation());
      },
    },
  };
}
