// Real grpc-js clients of the gRPC door: the generated client with promise wrappers,
// a stream that matches answers by id, and raw clients that send bytes of our own
// choosing (for what a generated client cannot send: malformed or mistyped fields).

import * as grpc from '@grpc/grpc-js';
import { kopilkaClientClass } from '../../dist/adapters/grpc-door.js';

export type Method = 'Register' | 'Identify' | 'Evaluate' | 'Commit' | 'Balance' | 'Cancel' | 'Refund' | 'Adjust' | 'TopUp' | (string & {});

export function bearer(key: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (key !== undefined) metadata.set('authorization', `Bearer ${key}`);
  return metadata;
}

/** A refused call: the gRPC status and kopilka's trailers. */
export interface Refusal {
  code: grpc.status;
  details: string;
  errorCode: string | undefined;
  errorField: string | undefined;
}

function refusalOf(err: grpc.ServiceError): Refusal {
  const one = (name: string) => err.metadata?.get(name)[0] as string | undefined;
  return { code: err.code, details: err.details, errorCode: one('kopilka-error-code'), errorField: one('kopilka-error-field') };
}

type UnaryFn = (request: unknown, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, reply: any) => void) => void;

export class KopilkaTestClient {
  readonly client: grpc.Client;

  constructor(port: number, options: grpc.ClientOptions = {}) {
    const Client = kopilkaClientClass();
    this.client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  }

  /** Resolves with the result; rejects with a `Refusal`. */
  call(method: Method, request: unknown, key: string | undefined): Promise<any> {
    const fn = (this.client as unknown as Record<Method, UnaryFn>)[method].bind(this.client);
    return new Promise((resolve, reject) => {
      fn(request, bearer(key), (err, reply) => (err ? reject(refusalOf(err)) : resolve(reply)));
    });
  }

  /** The refusal of a call expected to fail. */
  async refusal(method: Method, request: unknown, key: string | undefined): Promise<Refusal> {
    try {
      const reply = await this.call(method, request, key);
      throw new Error(`expected ${method} to be refused, got ${JSON.stringify(reply)}`);
    } catch (err) {
      if (err instanceof Error) throw err;
      return err as Refusal;
    }
  }

  stream(key: string | undefined): TestStream {
    return new TestStream((this.client as unknown as { stream(m: grpc.Metadata): grpc.ClientDuplexStream<unknown, any> }).stream(bearer(key)));
  }

  close(): void {
    this.client.close();
  }
}

/** A Stream whose answers resolve the request with the same id. */
export class TestStream {
  private readonly waiting = new Map<number, (reply: any) => void>();
  /** Answers nobody waited for (id 0 included). */
  readonly unmatched: any[] = [];
  /** The status the stream ended with. */
  readonly status: Promise<grpc.StatusObject>;

  constructor(readonly call: grpc.ClientDuplexStream<unknown, any>) {
    call.on('data', (reply: any) => {
      const resolve = this.waiting.get(reply.id);
      if (resolve === undefined) return void this.unmatched.push(reply);
      this.waiting.delete(reply.id);
      resolve(reply);
    });
    // A refused stream also emits 'error'; the status says everything the tests need.
    call.on('error', () => {});
    this.status = new Promise((resolve) => call.on('status', resolve));
  }

  /** Sends `{ id, ...op }` and resolves with its Response. */
  send(id: number, op: Record<string, unknown>): Promise<any> {
    const answer = new Promise<any>((resolve) => this.waiting.set(id, resolve));
    this.call.write({ id, ...op });
    return answer;
  }

  end(): Promise<grpc.StatusObject> {
    this.call.end();
    return this.status;
  }
}

const identity = (bytes: Buffer): Buffer => bytes;

/** Sends raw bytes as the request of a unary method; resolves with the status or the reply's bytes. */
export function rawUnary(port: number, method: Method, bytes: Buffer, key: string): Promise<{ refusal?: Refusal; reply?: Buffer }> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/kopilka.v1.Kopilka/${method}`, identity, identity, bytes, bearer(key), (err, reply) => {
      client.close();
      resolve(err ? { refusal: refusalOf(err) } : { reply });
    });
  });
}

/** A Stream carrying raw bytes out; answers decode with the generated Response type. */
export function rawStream(port: number, key: string): { call: grpc.ClientDuplexStream<Buffer, any>; close(): void } {
  const Client = kopilkaClientClass();
  const decoder = Client.service.Stream!.responseDeserialize;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(`/kopilka.v1.Kopilka/Stream`, identity, decoder, bearer(key));
  call.on('error', () => {});
  return { call, close: () => client.close() };
}

// ---- a small protobuf writer, for messages a generated client refuses to produce ----

function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

/** Field `n` as a varint (wire type 0). */
export function pbVarint(n: number, value: number): Buffer {
  return Buffer.from([...varint((n << 3) | 0), ...varint(value)]);
}

/** Field `n` as length-delimited bytes (wire type 2): strings and sub-messages. */
export function pbBytes(n: number, value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([Buffer.from([...varint((n << 3) | 2), ...varint(bytes.length)]), bytes]);
}

/** Field `n` as a 64-bit double (wire type 1). */
export function pbDouble(n: number, value: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return Buffer.concat([Buffer.from(varint((n << 3) | 1)), bytes]);
}
