// The gRPC door (protocol/kopilka.proto, service kopilka.v1.Kopilka) on @grpc/grpc-js.
//
// Unary calls for simple clients, and `Stream` for high-rate POS traffic: many requests
// in flight on one stream, each answered with its id (answers may come out of order),
// about five times cheaper per request than a unary call (shared/MEASURED.md).
// Credentials: metadata `authorization: Bearer <terminal key>` on every call, read once
// at the opening of a stream; the outlet each request names is checked against the key.
//
//   const door = await startGrpcDoor({ engine, port: 50051 });
//   // ... serve ...
//   await door.close(5_000);   // finish calls in flight for up to 5 s, then cut the rest
//
// Messages reach the validators in the same shapes as on the other doors: field names
// camelCase, int64 as JS numbers, absent fields absent (proto-loader `defaults: false`),
// a refund's `lines` unwrapped from its RefundLines message and an UpdateGuest's `tags` from
// its GuestTags (see `normalize`).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { Engine } from '../engine/engine.js';
import { requestLabels, type RequestLabels } from '../engine/metrics.js';
import { KopilkaError, grpcStatusOf, toErrorBody, type ErrorBody } from '../protocol/errors.js';
import { connection_in_flight_max, message_bytes_max } from '../protocol/limits.js';
import { OPS, type Op, type Operations } from '../protocol/types.js';
import { VALIDATORS } from '../protocol/validate.js';

export interface GrpcDoorOptions {
  engine: Engine;
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 (the default) picks a free one, returned by `startGrpcDoor`. */
  port?: number;
  /** Default: plaintext (behind a TLS-terminating proxy or on a private network). */
  credentials?: grpc.ServerCredentials;
}

export interface GrpcDoor {
  /** The port bound. */
  port: number;
  /**
   * Refuses new calls and waits for those in flight; after `graceMs` (default 5,000 ms)
   * cancels whatever is still open (long-lived streams, typically).
   */
  close(graceMs?: number): Promise<void>;
}

/** Replies buffered for a stream whose client does not read; beyond it the door stops reading that stream. */
const stream_replies_buffered_max = connection_in_flight_max;
const close_grace_ms_default = 5_000;

/** protocol/kopilka.proto, found from this file whether it runs from adapters/ or dist/adapters/. */
export const kopilkaProtoPath: string = findProto();

function findProto(): string {
  for (const relative of ['../protocol/kopilka.proto', '../../protocol/kopilka.proto']) {
    const path = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`protocol/kopilka.proto not found above ${fileURLToPath(import.meta.url)}`);
}

// `oneofs: false`: the decoded Request holds only the operation set, without the virtual
// `op` name, and `optional` fields get no virtual `_field` either; the validators refuse
// fields they do not know, so any such extra key would fail every request.
const server_load_options: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: false, oneofs: false };

/**
 * The generated client class of kopilka.v1.Kopilka, for Node terminals, tests and the
 * benchmark. Results decode with defaults filled in (a balance of 0 reads as 0, not absent),
 * and `Response.reply` names the member set.
 */
export function kopilkaClientClass(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(kopilkaProtoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { kopilka: { v1: { Kopilka: grpc.ServiceClientConstructor } } };
  return loaded.kopilka.v1.Kopilka;
}

export async function startGrpcDoor(options: GrpcDoorOptions): Promise<GrpcDoor> {
  const { engine, host, port, credentials } = compileOptions(options);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': message_bytes_max,
    'grpc.max_send_message_length': message_bytes_max,
  });
  server.addService(serviceDefinition(), {
    Register: unaryHandler(engine, 'register'),
    Identify: unaryHandler(engine, 'identify'),
    Evaluate: unaryHandler(engine, 'evaluate'),
    Commit: unaryHandler(engine, 'commit'),
    Balance: unaryHandler(engine, 'balance'),
    Cancel: unaryHandler(engine, 'cancel'),
    Refund: unaryHandler(engine, 'refund'),
    Adjust: unaryHandler(engine, 'adjust'),
    TopUp: unaryHandler(engine, 'topUp'),
    UpdateGuest: unaryHandler(engine, 'updateGuest'),
    AddCard: unaryHandler(engine, 'addCard'),
    BlockCard: unaryHandler(engine, 'blockCard'),
    UnblockCard: unaryHandler(engine, 'unblockCard'),
    PaymentCode: unaryHandler(engine, 'paymentCode'),
    Merge: unaryHandler(engine, 'merge'),
    Stream: (stream: grpc.ServerDuplexStream<unknown, unknown>) => openStream(engine, stream),
  });
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (err, boundPort) => (err ? reject(err) : resolve(boundPort)));
  });
  return { port: bound, close: (graceMs = close_grace_ms_default) => closeServer(server, graceMs) };
}

function compileOptions(options: GrpcDoorOptions): Required<GrpcDoorOptions> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TypeError('options.port must be an integer 0..65535');
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) throw new TypeError('options.host must be a non-empty string');
  return Object.freeze({ engine: options.engine, host, port, credentials: options.credentials ?? grpc.ServerCredentials.createInsecure() });
}

function closeServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// ---- decoding -----------------------------------------------------------------------

/**
 * What a request decodes to when its bytes are not a valid message. grpc-js would answer a
 * throwing deserializer with INTERNAL; the handlers answer this with `bad_request` instead
 * (INVALID_ARGUMENT on a unary call, an error for id 0 on a stream, which stays open).
 */
const MALFORMED: unique symbol = Symbol('malformed message');

function serviceDefinition(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(kopilkaProtoPath, server_load_options);
  const service = definition['kopilka.v1.Kopilka'] as grpc.ServiceDefinition;
  const types = protobuf.loadSync(kopilkaProtoPath);
  const tolerant: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const deserialize = method.requestDeserialize;
    tolerant[name] = {
      ...method,
      responseSerialize: directEncoder(types.lookupType(`kopilka.v1.${((method as unknown as protoLoader.MethodDefinition<unknown, unknown>).responseType.type as { name: string }).name}`)),
      requestDeserialize(bytes: Buffer): unknown {
        try {
          return deserialize(bytes);
        } catch {
          return MALFORMED;
        }
      },
    };
  }
  return tolerant;
}

/**
 * The answers' encoder: protobuf.js's `encode` straight from the result object, without
 * proto-loader's `fromObject` copy first (a third of the encoding's cost). `fromObject`
 * only converts: numbers to Longs for the int64 fields (which `encode` writes from numbers
 * as well) and strings to enums, bytes or numbers, none of which the results carry (the
 * .proto has no enum, bytes or float field; results are typed as protocol/types.ts, whose
 * numbers are numbers). Field names are camelCase on both sides (protobuf.js's default).
 */
function directEncoder(type: protobuf.Type): (value: unknown) => Buffer {
  return (value) => type.encode(value as Record<string, unknown>).finish() as Buffer;
}

/**
 * Brings a decoded body to the shape of protocol/types.ts, in place:
 * - proto3 cannot tell an empty string from an absent one, and protobuf.js clients send ""
 *   when a field is set to it: the optional strings go absent, as the validators expect.
 *   Required strings stay, so that "" is refused naming the field.
 * - A refund's `lines` travels wrapped (RefundLines) so that its presence survives proto3:
 *   the wrapper becomes its list, an empty wrapper an empty list (refused, naming `lines`).
 * An adjustment needs nothing: its strings are all required ("" is refused naming the
 * field) and its `points` absent (a 0 from a protoc client) or 0 is refused naming `points`.
 */
function normalize(op: Op, body: Record<string, unknown>): void {
  if (normalizeGuestFields(op, body)) return;
  if (op === 'register') {
    if (body.name === '') body.name = undefined;
    if (body.phone === '') body.phone = undefined;
  } else if (op === 'evaluate' || op === 'commit') {
    if (op === 'commit' && body.holdId === '') body.holdId = undefined;
    if (body.pointsAccount === '') body.pointsAccount = undefined;
    const lines = body.lines;
    if (!Array.isArray(lines)) return;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as Record<string, unknown>;
      if (line.category === '') line.category = undefined;
    }
  } else if (op === 'refund') {
    const wrapped = body.lines;
    if (typeof wrapped === 'object' && wrapped !== null) body.lines = (wrapped as { lines?: unknown }).lines ?? [];
  }
}

/** Register's optional strings; "" from proto3 means absent. */
const REGISTER_OPTIONAL_STRINGS = ['name', 'phone', 'email', 'birthday', 'document', 'address', 'kind'] as const;

/**
 * The guests-and-cards part of `normalize`; true when it handled the op:
 * - register: its optional strings "" go absent (as name and phone always did), and an
 *   empty `discounts` map too (no level set).
 * Answers need nothing: identify's and updateGuest's `discounts` are plain objects, which
 * proto-loader encodes as the proto maps they are.
 * - identify: `card` and `phone` "" go absent, so that exactly one of them is left.
 * - updateGuest: its strings are proto3 `optional`, so a "" that arrives was sent on
 *   purpose and clears the field; it stays. `tags` travels wrapped (GuestTags) so that
 *   "clear" (an empty list) differs from "unchanged" (absent): unwrapped here. An empty
 *   `discounts` map is absent.
 */
function normalizeGuestFields(op: Op, body: Record<string, unknown>): boolean {
  if (op === 'register') {
    for (const key of REGISTER_OPTIONAL_STRINGS) if (body[key] === '') body[key] = undefined;
    dropEmptyMap(body, 'discounts');
    return true;
  }
  if (op === 'identify') {
    if (body.card === '') body.card = undefined;
    if (body.phone === '') body.phone = undefined;
    return true;
  }
  if (op === 'updateGuest') {
    const wrapped = body.tags;
    if (typeof wrapped === 'object' && wrapped !== null && !Array.isArray(wrapped)) body.tags = (wrapped as { tags?: unknown }).tags ?? [];
    // A proto3 map cannot tell empty from absent; either changes no level.
    dropEmptyMap(body, 'discounts');
    return true;
  }
  return false;
}

/** A proto3 map field that arrived empty: absent, as the validators read "nothing given". */
function dropEmptyMap(body: Record<string, unknown>, key: string): void {
  const map = body[key];
  if (typeof map === 'object' && map !== null && Object.keys(map).length === 0) body[key] = undefined;
}

function bearer(metadata: grpc.Metadata): string | undefined {
  const values = metadata.get('authorization');
  const value = values.length === 1 ? values[0] : undefined;
  return typeof value === 'string' && value.startsWith('Bearer ') ? value.slice(7) : undefined;
}

/** Validates, normalizes and authorizes one decoded body; throws a KopilkaError. */
function admit<O extends Op>(engine: Engine, op: O, key: string | undefined, decoded: unknown): Operations[O]['request'] {
  if (decoded === MALFORMED) throw new KopilkaError('bad_request', 'the message is not a valid protobuf of this method');
  if (typeof decoded === 'object' && decoded !== null) normalize(op, decoded as Record<string, unknown>);
  const body = VALIDATORS[op](decoded);
  engine.authorize(key, body.outlet);
  return body;
}

// ---- metrics ------------------------------------------------------------------------

type Labels = RequestLabels;

const UNARY_LABELS = requestLabels('grpc');
const STREAM_LABELS = requestLabels('grpc_stream');

function observe(engine: Engine, labels: Labels, started: number, result: unknown): void {
  engine.metrics.answered(labels, started, result);
}

/** Counts an error and returns its body; `internal` ones are logged, being bugs. */
function failure(engine: Engine, labels: Labels, started: number, err: unknown): ErrorBody {
  const error = toErrorBody(err);
  if (error.code === 'internal') console.error(`kopilka: internal error on ${labels.door} ${labels.op}`, err);
  engine.metrics.failed(labels, started, error.code);
  return error;
}

// ---- unary --------------------------------------------------------------------------

function unaryHandler<O extends Op>(engine: Engine, op: O): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => void serveUnary(engine, op, call, callback);
}

async function serveUnary<O extends Op>(
  engine: Engine,
  op: O,
  call: grpc.ServerUnaryCall<unknown, unknown>,
  callback: grpc.sendUnaryData<unknown>,
): Promise<void> {
  const started = performance.now();
  const labels = UNARY_LABELS[op];
  let result: Operations[O]['result'];
  try {
    const key = bearer(call.metadata);
    // The key first: a caller without one learns nothing, not even what is wrong with its input.
    engine.terminal(key);
    result = await engine.execute(op, admit(engine, op, key, call.request));
  } catch (err) {
    callback(statusOf(failure(engine, labels, started, err)));
    return;
  }
  observe(engine, labels, started, result);
  callback(null, result);
}

function statusOf(error: ErrorBody): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('kopilka-error-code', error.code);
  if (error.field !== undefined) metadata.set('kopilka-error-field', error.field);
  return { code: grpcStatusOf(error.code), details: error.message, metadata };
}

// ---- stream -------------------------------------------------------------------------

/** A decoded stream Request: `id` and at most one operation (proto3 leaves out a zero id). */
type StreamRequest = { id?: number } & { [O in Op]?: unknown };

/** The Response the door writes: `id` and exactly one of the results or `error`. */
type StreamReply = { id: number } & { [O in Op]?: Operations[O]['result'] } & { error?: ErrorBody };

function openStream(engine: Engine, stream: grpc.ServerDuplexStream<unknown, unknown>): void {
  const key = bearer(stream.metadata);
  try {
    engine.terminal(key);
  } catch (err) {
    // Ends the call with this status (grpc-js turns a stream's 'error' into its status).
    stream.emit('error', statusOf(toErrorBody(err)));
    return;
  }
  new TerminalStream(engine, stream, key);
}

/** One open Stream: its key, its requests in flight and whether the client has finished sending. */
class TerminalStream {
  private inFlight = 0;
  private halfClosed = false;
  private paused = false;

  constructor(
    private readonly engine: Engine,
    private readonly stream: grpc.ServerDuplexStream<unknown, unknown>,
    private readonly key: string | undefined,
  ) {
    stream.on('data', (request: unknown) => this.receive(request));
    stream.on('end', () => {
      this.halfClosed = true;
      if (this.inFlight === 0) this.finish();
    });
    stream.on('drain', () => {
      if (this.paused) {
        this.paused = false;
        stream.resume();
      }
    });
  }

  private receive(decoded: unknown): void {
    const started = performance.now();
    if (decoded === MALFORMED) {
      this.refuse(0, STREAM_LABELS.unknown, started, new KopilkaError('bad_request', 'the message is not a valid kopilka.v1.Request'));
      return;
    }
    const request = decoded as StreamRequest;
    const id = request.id ?? 0;
    const op = opOf(request);
    if (op === undefined) {
      this.refuse(id, STREAM_LABELS.unknown, started, new KopilkaError('unknown_op', `a Request must set exactly one of ${OPS.join(', ')}`));
      return;
    }
    const labels = STREAM_LABELS[op];
    if (this.inFlight >= connection_in_flight_max) {
      this.refuse(id, labels, started, new KopilkaError('too_many_in_flight', `at most ${connection_in_flight_max} requests may be in flight per stream`));
      return;
    }
    let body: Operations[Op]['request'];
    try {
      body = admit(this.engine, op, this.key, request[op]);
    } catch (err) {
      this.refuse(id, labels, started, err);
      return;
    }
    let answer: Operations[Op]['result'] | Promise<Operations[Op]['result']>;
    try {
      answer = this.engine.run(op, body);
    } catch (err) {
      this.refuse(id, labels, started, err);
      return;
    }
    if (!(answer instanceof Promise)) {
      // A read: answered inside this 'data' event, without a promise in between.
      observe(this.engine, labels, started, answer);
      this.send({ id, [op]: answer });
      return;
    }
    this.inFlight++;
    void this.settle(id, op, labels, started, answer);
  }

  private async settle(id: number, op: Op, labels: Labels, started: number, answer: Promise<Operations[Op]['result']>): Promise<void> {
    let reply: StreamReply;
    try {
      const result = await answer;
      observe(this.engine, labels, started, result);
      reply = { id, [op]: result };
    } catch (err) {
      reply = { id, error: failure(this.engine, labels, started, err) };
    }
    this.inFlight--;
    this.send(reply);
    if (this.halfClosed && this.inFlight === 0) this.finish();
  }

  private refuse(id: number, labels: Labels, started: number, err: unknown): void {
    this.send({ id, error: failure(this.engine, labels, started, err) });
  }

  private send(reply: StreamReply): void {
    // A cancelled stream is destroyed: answers in flight have nowhere to go.
    if (this.stream.destroyed) return;
    this.stream.write(reply);
    // A client that sends without reading would grow the reply buffer without bound:
    // stop reading its requests until it catches up (HTTP/2 flow control then holds it back).
    if (!this.paused && this.stream.writableLength >= stream_replies_buffered_max) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private finish(): void {
    if (!this.stream.destroyed) this.stream.end();
  }
}

/** The one operation a Request sets, or undefined when it sets none or several. */
function opOf(request: StreamRequest): Op | undefined {
  let found: Op | undefined;
  for (let i = 0; i < OPS.length; i++) {
    const op = OPS[i]!;
    if (request[op] === undefined) continue;
    if (found !== undefined) return undefined;
    found = op;
  }
  return found;
}
