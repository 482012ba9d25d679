// Loads bench/echo.proto for both sides of the gRPC ceiling: the server in
// ceiling-servers.ts and the client in ceilings.ts.

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { repoRoot } from './repo-root.js';

/** The decoded Msg; `longs: Number` turns uint64 into a number (sequence numbers stay far below 2^53). */
export interface EchoMsg {
  id: number;
  payload: Buffer;
}

export interface EchoClient extends grpc.Client {
  Unary(request: EchoMsg, callback: (error: grpc.ServiceError | null, reply?: EchoMsg) => void): grpc.ClientUnaryCall;
  Bidi(): grpc.ClientDuplexStream<EchoMsg, EchoMsg>;
}

export interface EchoService {
  service: grpc.ServiceDefinition;
  Client: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => EchoClient;
}

export function loadEchoService(): EchoService {
  const definition = protoLoader.loadSync(join(repoRoot(), 'bench', 'echo.proto'), {
    keepCase: true,
    longs: Number,
    // Fields left at their default still appear, so the echo returns what it got.
    defaults: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    kopilka: { bench: { Echo: grpc.ServiceClientConstructor } };
  };
  const Echo = loaded.kopilka.bench.Echo;
  return { service: Echo.service, Client: Echo as unknown as EchoService['Client'] };
}
