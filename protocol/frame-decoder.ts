// Decodes a WebSocket frame (msgpack) into the same value msgpackr's `unpack` gives
// (`mapsAsObjects`), faster for the frames terminals send.
//
// Why: a generic decoder builds every map as `{}` plus one keyed store per entry, and
// those stores, shared by every map of every frame, go megamorphic: in a profile of
// evaluate over WebSocket (an 8-line check), msgpackr's readMap alone took 18% of the
// doors' thread and the whole unpack 39%. Here a map whose sequence of keys was seen
// before (every check line has the same four) is built by one object literal made for
// that sequence, so its objects share one shape, are made at once and read fast later
// (the validators read every field).
//
// Exactness: only what is common in frames is decoded here: maps with plain ASCII
// identifier keys, arrays, ASCII strings, integers up to 32 bits, float64, nil and
// booleans, nested at most `depth_max`. Anything else (another string, a 64-bit integer,
// float32, bin, ext, a key such as `__proto__`, bytes left over, a truncated frame) hands
// the whole frame to msgpackr, so that such frames decode, or fail, exactly as before.

import { Packr } from 'msgpackr';

const fallback = new Packr({ useRecords: false, mapsAsObjects: true });

/** Nesting beyond this goes to msgpackr (frames nest 4 deep: frame, body, lines, line). */
const depth_max = 16;
/** Keys of one map built by a shaped literal; longer maps are built key by key. */
const shape_keys_max = 24;
/** Shapes remembered at most (trie nodes): a client sending ever new key sets cannot grow it further. */
const shape_nodes_max = 512;
/** A key usable as a literal's property name as it is. */
const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Thrown inside the fast path to hand the frame to msgpackr; never leaves this module. */
const FALLBACK = Symbol('fallback');

/** A node of the trie of key sequences: the keys so far, and the literal that builds such a map. */
interface ShapeNode {
  next: Map<string, ShapeNode>;
  keys: string[];
  build: ((values: unknown[]) => Record<string, unknown>) | undefined;
  /** The first children with their key as packed (header and bytes): matched by bytes first, no string made. */
  packed: Array<{ bytes: Uint8Array; node: ShapeNode }>;
}

/** Children of a node matched by their packed bytes; more are found by their key string. */
const packed_children_max = 8;

const newNode = (keys: string[]): ShapeNode => ({ next: new Map(), keys, build: undefined, packed: [] });
const root: ShapeNode = newNode([]);
let shapeNodes = 1;

const none = new Uint8Array(0);
let src: Uint8Array = none;
let pos = 0;
let end = 0;
// One values array per depth, reused: a map's values are read into it, then built.
const valueStacks: unknown[][] = Array.from({ length: depth_max + 1 }, () => []);

/** The frame's value, as msgpackr's `unpack` would give it (and its errors, thrown as msgpackr throws them). */
export function decodeFrame(bytes: Uint8Array): unknown {
  src = bytes;
  pos = 0;
  end = bytes.length;
  try {
    const value = read(0);
    if (pos !== end) throw FALLBACK;
    return value;
  } catch (err) {
    if (err !== FALLBACK) throw err;
    return fallback.unpack(bytes);
  } finally {
    // The frame's bytes are not kept past the call (uWS reuses them).
    src = none;
  }
}

function read(depth: number): unknown {
  if (pos >= end) throw FALLBACK;
  const b = src[pos++]!;
  if (b < 0x80) return b;
  if (b < 0x90) return readMap(b & 0x0f, depth);
  if (b < 0xa0) return readArray(b & 0x0f, depth);
  if (b < 0xc0) return readAscii(b & 0x1f);
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcb: {
      need(8);
      const v = new DataView(src.buffer, src.byteOffset + pos, 8).getFloat64(0);
      pos += 8;
      return v;
    }
    case 0xcc:
      need(1);
      return src[pos++]!;
    case 0xcd:
      need(2);
      pos += 2;
      return (src[pos - 2]! << 8) | src[pos - 1]!;
    case 0xce:
      need(4);
      pos += 4;
      return src[pos - 4]! * 0x1000000 + ((src[pos - 3]! << 16) | (src[pos - 2]! << 8) | src[pos - 1]!);
    case 0xd0:
      need(1);
      return (src[pos++]! << 24) >> 24;
    case 0xd1:
      need(2);
      pos += 2;
      return (((src[pos - 2]! << 8) | src[pos - 1]!) << 16) >> 16;
    case 0xd2:
      need(4);
      pos += 4;
      return (src[pos - 4]! << 24) | (src[pos - 3]! << 16) | (src[pos - 2]! << 8) | src[pos - 1]!;
    case 0xd9:
      need(1);
      return readAscii(src[pos++]!);
    case 0xda:
      need(2);
      pos += 2;
      return readAscii((src[pos - 2]! << 8) | src[pos - 1]!);
    case 0xdc:
      need(2);
      pos += 2;
      return readArray((src[pos - 2]! << 8) | src[pos - 1]!, depth);
    case 0xde:
      need(2);
      pos += 2;
      return readMap((src[pos - 2]! << 8) | src[pos - 1]!, depth);
    default:
      throw FALLBACK;
  }
}

function need(n: number): void {
  if (pos + n > end) throw FALLBACK;
}

/** An ASCII string of `length` bytes; any other byte hands the frame to msgpackr (its UTF-8 rules stay the rule). */
function readAscii(length: number): string {
  need(length);
  const start = pos;
  pos += length;
  let high = 0;
  for (let i = start; i < pos; i++) high |= src[i]!;
  if (high >= 0x80) throw FALLBACK;
  return length <= 8 ? shortAscii(start, length) : (Buffer.prototype.latin1Slice.call(src, start, pos) as string);
}

/** Up to 8 ASCII bytes as a string, made at once (no intermediate strings, no native call). */
function shortAscii(at: number, length: number): string {
  const f = String.fromCharCode;
  const b = src;
  switch (length) {
    case 0:
      return '';
    case 1:
      return f(b[at]!);
    case 2:
      return f(b[at]!, b[at + 1]!);
    case 3:
      return f(b[at]!, b[at + 1]!, b[at + 2]!);
    case 4:
      return f(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
    case 5:
      return f(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!);
    case 6:
      return f(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!);
    case 7:
      return f(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!);
    default:
      return f(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b[at + 6]!, b[at + 7]!);
  }
}

function readArray(length: number, depth: number): unknown[] {
  if (depth >= depth_max || length > end - pos) throw FALLBACK;
  const out = new Array<unknown>(length);
  for (let i = 0; i < length; i++) out[i] = read(depth + 1);
  return out;
}

/** A map key: an ASCII identifier (not `__proto__`), else the frame goes to msgpackr. */
function readKey(): string {
  if (pos >= end) throw FALLBACK;
  const b = src[pos]!;
  if (b < 0xa0 || b >= 0xc0) throw FALLBACK;
  pos++;
  const key = readAscii(b & 0x1f);
  if (!identifier.test(key) || key === '__proto__') throw FALLBACK;
  return key;
}

function readMap(length: number, depth: number): Record<string, unknown> {
  if (depth >= depth_max || length > (end - pos) / 2) throw FALLBACK;
  if (length > shape_keys_max) return readMapByKeys(length, depth);
  const values = valueStacks[depth]!;
  let node = root;
  for (let i = 0; i < length; i++) {
    let child = packedChild(node);
    if (child === undefined) {
      const at = pos;
      const key = readKey();
      child = node.next.get(key);
      if (child === undefined) {
        if (shapeNodes >= shape_nodes_max) return finishByKeys(node.keys, key, values, i, length, depth);
        child = newNode([...node.keys, key]);
        node.next.set(key, child);
        shapeNodes++;
        if (node.packed.length < packed_children_max) node.packed.push({ bytes: src.slice(at, pos), node: child });
      }
    }
    node = child;
    values[i] = read(depth + 1);
  }
  const build = (node.build ??= literalFor(node.keys));
  // The values stay in the array until the next map of this depth overwrites them.
  return build(values);
}

/** The child of `node` whose key is packed at `pos`, found by its bytes (then `pos` is past it), else undefined. */
function packedChild(node: ShapeNode): ShapeNode | undefined {
  const children = node.packed;
  next: for (let c = 0; c < children.length; c++) {
    const bytes = children[c]!.bytes;
    if (pos + bytes.length > end) continue;
    for (let i = 0; i < bytes.length; i++) if (src[pos + i] !== bytes[i]) continue next;
    pos += bytes.length;
    return children[c]!.node;
  }
  return undefined;
}

/** The rest of a map whose key sequence has no shape (the trie is full): key by key, as msgpackr builds it. */
function finishByKeys(keys: string[], key: string, values: unknown[], i: number, length: number, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let k = 0; k < i; k++) object[keys[k]!] = values[k];
  object[key] = read(depth + 1);
  for (let k = i + 1; k < length; k++) {
    const next = readKey();
    object[next] = read(depth + 1);
  }
  return object;
}

function readMapByKeys(length: number, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = 0; i < length; i++) {
    const key = readKey();
    object[key] = read(depth + 1);
  }
  return object;
}

/**
 * `(v) => ({ k0: v[0], k1: v[1], … })` for these keys: identifiers only (checked by
 * readKey), never `__proto__`, so the literal makes own data properties, as msgpackr
 * does; a key repeated takes its last value, as with msgpackr.
 */
function literalFor(keys: readonly string[]): (values: unknown[]) => Record<string, unknown> {
  const fields = keys.map((k, i) => `${k}: v[${i}]`).join(', ');
  return new Function('v', `return { ${fields} };`) as (values: unknown[]) => Record<string, unknown>;
}
