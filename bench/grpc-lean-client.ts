// A lean client of kopilka.v1.Kopilka for the benchmark's gRPC rows.
//
// Requests are encoded exactly as the generated client (adapters/grpc-door.ts
// `kopilkaClientClass`) encodes them: protobuf.js over protocol/kopilka.proto with
// camelCase field names (proto-loader's `keepCase: false`), `Type.fromObject` then
// `Type.encode`. Replies are NOT decoded: the client hands back the raw bytes and the
// rows read from them only what they judge a reply by, with the minimal wire reader
// below: the Response's `id` (field 1) and which member of its `reply` oneof is set
// (plus, for a commit, whether CommitResult.outcome is "ok").
//
// Why: the load client shares the machine's cores with the server under test, so every
// microsecond it spends per reply is taken from kopilka and lowers the row. The generated
// client decodes every reply in full and converts it with toObject (an EvaluateResult has
// ~17 fields and lists), far more work than the ceiling's echo client does on its tiny
// Msg. The WebSocket rows do the same (bench/kopilka-scenarios.ts `idOf`, `isResult`):
// the shared cores go to the server under test, not to decoding answers nobody reads.

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { kopilkaProtoPath } from '../adapters/grpc-door.js';

/** Field numbers of protocol/kopilka.proto that the reader needs. */
const RESPONSE_ID = 1;
export const REPLY_EVALUATE = 4;
export const REPLY_COMMIT = 5;
export const REPLY_ERROR = 15;
const COMMIT_RESULT_OUTCOME = 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** The client's methods: `Evaluate` answers the raw EvaluateResult, `Stream` raw Responses. */
export interface LeanKopilkaClient extends grpc.Client {
  Evaluate(
    request: object,
    metadata: grpc.Metadata,
    callback: (error: grpc.ServiceError | null, reply?: Buffer) => void,
  ): grpc.ClientUnaryCall;
  Stream(metadata: grpc.Metadata): grpc.ClientDuplexStream<object, Buffer>;
}

type LeanClientConstructor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => LeanKopilkaClient;

let constructorCache: LeanClientConstructor | undefined;

/** The lean client class (the .proto is loaded once). */
export function leanKopilkaClientClass(): LeanClientConstructor {
  if (constructorCache !== undefined) return constructorCache;
  // protobuf.js's default parse options turn snake_case field names into camelCase, as
  // proto-loader's keepCase: false does: the scenarios' bodies use camelCase names.
  const root = protobuf.loadSync(kopilkaProtoPath);
  root.resolveAll();
  const EvaluateRequest = root.lookupType('kopilka.v1.EvaluateRequest');
  const Request = root.lookupType('kopilka.v1.Request');
  const encoder = (type: protobuf.Type) => (value: object): Buffer => {
    const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
    // Under Node protobuf.js's writer already answers a Buffer.
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  const raw = (bytes: Buffer): Buffer => bytes;
  const service: grpc.ServiceDefinition = {
    Evaluate: {
      path: '/kopilka.v1.Kopilka/Evaluate',
      requestStream: false,
      responseStream: false,
      requestSerialize: encoder(EvaluateRequest),
      responseDeserialize: raw,
      // Server side, unused by a client; given for the type's sake.
      requestDeserialize: raw,
      responseSerialize: raw,
      originalName: 'evaluate',
    },
    Stream: {
      path: '/kopilka.v1.Kopilka/Stream',
      requestStream: true,
      responseStream: true,
      requestSerialize: encoder(Request),
      responseDeserialize: raw,
      requestDeserialize: raw,
      responseSerialize: raw,
      originalName: 'stream',
    },
  };
  constructorCache = grpc.makeGenericClientConstructor(service, 'Kopilka') as unknown as LeanClientConstructor;
  return constructorCache;
}

// ---- the wire reader ----------------------------------------------------------------
//
// Reads varints and skips fields, nothing else. The readers are synchronous and share
// one cursor, so that a read allocates nothing. Malformed bytes (a truncated field, a
// varint over 10 bytes, a group or an unknown wire type) read as "no id" (-1) and "no
// reply" (0): the row then counts the reply as unmatched or refused, never as a success.

let pos = 0;

/** The varint at `pos`, advancing it; -1 when malformed. Exact below 2^53 (ids are). */
function varint(buf: Uint8Array, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10 && pos < end; i++) {
    const byte = buf[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
  return -1;
}

/** Skips the value of a field of `wireType` at `pos`; false when malformed. */
function skip(buf: Uint8Array, end: number, wireType: number): boolean {
  switch (wireType) {
    case WIRE_VARINT:
      return varint(buf, end) >= 0;
    case WIRE_FIXED64:
      pos += 8;
      return pos <= end;
    case WIRE_LEN: {
      const length = varint(buf, end);
      if (length < 0) return false;
      pos += length;
      return pos <= end;
    }
    case WIRE_FIXED32:
      pos += 4;
      return pos <= end;
    default:
      return false;
  }
}

/** What `readResponse` found; one object, overwritten by every read. */
export interface ResponseView {
  /** Response.id; 0 when absent (proto3 leaves a 0 off the wire); -1 when malformed. */
  id: number;
  /** The field number of the `reply` member set (REPLY_EVALUATE, REPLY_COMMIT, REPLY_ERROR, ...); 0 for none. */
  kind: number;
  /** Where the member's bytes (the embedded message) start and end in the buffer. */
  start: number;
  end: number;
}

const view: ResponseView = { id: 0, kind: 0, start: 0, end: 0 };

/**
 * The id and reply kind of one encoded kopilka.v1.Response, without decoding the reply.
 * As protobuf does, the last occurrence of a field wins (for a oneof: the last member).
 * The returned object is shared: read it before the next call.
 */
export function readResponse(buf: Uint8Array): ResponseView {
  view.id = 0;
  view.kind = 0;
  view.start = 0;
  view.end = 0;
  const end = buf.length;
  pos = 0;
  while (pos < end) {
    const tag = varint(buf, end);
    if (tag < 0) return malformed();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === RESPONSE_ID && wireType === WIRE_VARINT) {
      const id = varint(buf, end);
      if (id < 0) return malformed();
      view.id = id;
    } else if (field !== RESPONSE_ID && wireType === WIRE_LEN) {
      const length = varint(buf, end);
      if (length < 0 || pos + length > end) return malformed();
      view.kind = field;
      view.start = pos;
      view.end = pos + length;
      pos += length;
    } else if (!skip(buf, end, wireType)) {
      return malformed();
    }
  }
  return view;
}

function malformed(): ResponseView {
  view.id = -1;
  view.kind = 0;
  view.start = 0;
  view.end = 0;
  return view;
}

/** The id of an encoded Response (-1 when malformed). */
export const responseId = (buf: Uint8Array): number => readResponse(buf).id;

/** Whether an encoded Response carries an EvaluateResult (not an error, nor another result). */
export const isEvaluateResult = (buf: Uint8Array): boolean => readResponse(buf).kind === REPLY_EVALUATE;

const OK = Buffer.from('ok');

/** Whether an encoded Response carries a CommitResult whose outcome is "ok". */
export function isCommitOk(buf: Uint8Array): boolean {
  const reply = readResponse(buf);
  return reply.kind === REPLY_COMMIT && commitOutcomeIs(buf, reply.start, reply.end, OK);
}

/**
 * Whether the CommitResult in buf[start, end) has outcome `expected` (UTF-8 bytes),
 * comparing bytes and skipping every other field undecoded. protobuf.js (the server)
 * writes each field once, in field-number order, so `outcome` (field 1), when set, comes
 * first and the scan stops there; an absent outcome ("") is never "ok".
 */
function commitOutcomeIs(buf: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  pos = start;
  while (pos < end) {
    const tag = varint(buf, end);
    if (tag < 0) return false;
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === COMMIT_RESULT_OUTCOME && wireType === WIRE_LEN) {
      const length = varint(buf, end);
      if (length < 0 || pos + length > end) return false;
      if (length !== expected.length) return false;
      for (let i = 0; i < length; i++) if (buf[pos + i] !== expected[i]) return false;
      return true;
    }
    if (!skip(buf, end, wireType)) return false;
  }
  return false;
}
