// The ceiling servers, run as their own process (`node dist/bench/ceiling-servers.js`)
// so that, like kopilka's server, they compete with the load generator for the two
// cores instead of sharing its event loop. Each does the least a real door must:
//   - uWS WebSocket echo: msgpackr unpack + pack of every binary message;
//   - uWS HTTP POST /echo: JSON.parse + JSON.stringify of the body;
//   - grpc-js Echo service: Unary and Bidi echo of `Msg` (protobuf decode + encode).
// All listen on 127.0.0.1 ephemeral ports. When ready it prints one JSON line,
// {"ws":port,"http":port,"grpc":port,...}, and it exits on SIGTERM, SIGINT, or when
// its stdin closes (the parent died), so a crashed run leaves no server behind.

import uWS from 'uWebSockets.js';
import * as grpc from '@grpc/grpc-js';
import { pack, unpack, isNativeAccelerationEnabled } from 'msgpackr';
import { loadEchoService, type EchoMsg } from './echo-proto.js';

const host = '127.0.0.1';
/** Largest WebSocket message or HTTP body accepted, in bytes (kopilka's own door takes 64 KiB). */
const message_bytes_max = 64 * 1024;

function startUws(): Promise<{ wsPort: number; httpPort: number; close: () => void }> {
  const app = uWS.App();

  app.ws('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: message_bytes_max,
    // The driver keeps connections busy; no idle timeout to trip over.
    idleTimeout: 0,
    message: (ws, message, isBinary) => {
      // `message` is only valid during this callback; unpack copies what it keeps,
      // and send() copies the packed bytes before pack's buffer is reused.
      let decoded: unknown;
      try {
        decoded = unpack(new Uint8Array(message));
      } catch {
        // Not msgpack: close with 1007 (invalid payload) rather than crash the server.
        ws.end(1007, 'not msgpack');
        return;
      }
      ws.send(pack(decoded), isBinary, false);
    },
  });

  app.post('/echo', (res, _req) => {
    let aborted = false;
    let chunks: Buffer[] = [];
    let size = 0;
    res.onAborted(() => {
      aborted = true;
    });
    res.onData((chunk, isLast) => {
      if (aborted) return;
      size += chunk.byteLength;
      if (size > message_bytes_max) {
        aborted = true;
        res.cork(() => res.writeStatus('413 Payload Too Large').end());
        return;
      }
      // The chunk is freed after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (!isLast) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks = [];
      let reply: string;
      try {
        reply = JSON.stringify(JSON.parse(body.toString('utf8')));
      } catch {
        res.cork(() => res.writeStatus('400 Bad Request').end());
        return;
      }
      res.cork(() => res.writeHeader('content-type', 'application/json').end(reply));
    });
  });

  app.any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  });

  return new Promise((resolve, reject) => {
    // One app listening twice: every route answers on both ports, and each ceiling
    // gets a port of its own to name, as kopilka's doors may have.
    const sockets: uWS.us_listen_socket[] = [];
    app.listen(host, 0, (wsSocket) => {
      if (!wsSocket) return reject(new Error('uWS could not listen'));
      sockets.push(wsSocket);
      app.listen(host, 0, (httpSocket) => {
        if (!httpSocket) return reject(new Error('uWS could not listen'));
        sockets.push(httpSocket);
        resolve({
          wsPort: uWS.us_socket_local_port(wsSocket),
          httpPort: uWS.us_socket_local_port(httpSocket),
          close: () => sockets.forEach((socket) => uWS.us_listen_socket_close(socket)),
        });
      });
    });
  });
}

function startGrpc(): Promise<{ port: number; server: grpc.Server }> {
  const { service } = loadEchoService();
  const server = new grpc.Server();
  server.addService(service, {
    Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, callback: grpc.sendUnaryData<EchoMsg>) => {
      callback(null, call.request);
    },
    Bidi: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => {
      call.on('data', (msg: EchoMsg) => call.write(msg));
      call.on('end', () => call.end());
      // A client cancel surfaces here; the stream is gone, nothing to answer.
      call.on('error', () => {});
    },
  });
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) return reject(error);
      resolve({ port, server });
    });
  });
}

async function main(): Promise<void> {
  const uws = await startUws();
  const { port: grpcPort, server } = await startGrpc();

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    uws.close();
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();

  process.stdout.write(JSON.stringify({
    ws: uws.wsPort,
    http: uws.httpPort,
    grpc: grpcPort,
    pid: process.pid,
    msgpackr_native: isNativeAccelerationEnabled,
  }) + '\n');
}

main().catch((error: unknown) => {
  console.error('ceiling-servers:', error);
  process.exit(1);
});
