// The WebSocket and HTTP door on uWebSockets.js.
//
// WebSocket `/v1/ws` (vending controllers, POS): binary msgpack frames
// `{ id, op, body }` answered by `{ id, result }` or `{ id, error }`; many requests
// in flight per connection, answers matched by id (they may come out of order).
// The terminal key comes at the upgrade: header `authorization: Bearer <key>` or
// query `?key=`. HTTP: `POST /v1/<op>` with a JSON body and the same header.
// Also `GET /metrics` (Prometheus) and `GET /healthz`.

import { Packr } from 'msgpackr';
import { decodeFrame } from '../protocol/frame-decoder.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket } from 'uWebSockets.js';
import type { Engine } from '../engine/engine.js';
import { requestLabels } from '../engine/metrics.js';
import { KopilkaError, httpStatusOf, toErrorBody, type ErrorBody } from '../protocol/errors.js';
import { connection_in_flight_max, message_bytes_max } from '../protocol/limits.js';
import type { Op, Operations } from '../protocol/types.js';
import { isOp, VALIDATORS } from '../protocol/validate.js';
import { uWS } from './uws.js';

/** Frames beyond this close the connection (1009); below it, beyond message_bytes_max, get `message_too_large`. */
const ws_frame_bytes_hard_max = 1024 * 1024;
/** Bytes buffered for a slow reader before uWS stops sending to it. */
const ws_backpressure_bytes_max = 4 * 1024 * 1024;
const ws_idle_timeout_s = 120;

// Plain msgpack maps (no records extension): any msgpack library can speak to us.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

interface Conn {
  key: string;
  inFlight: number;
  open: boolean;
}

export interface UwsDoorOptions {
  engine: Engine;
  host?: string;
  port?: number;
}

export interface UwsDoor {
  port: number;
  /** Stops accepting connections; open WebSockets stay until `closeConnections`. */
  stopListening(): void;
  /** Closes every open WebSocket with 1001 (going away). */
  closeConnections(): void;
}

export function startUwsDoor(options: UwsDoorOptions): Promise<UwsDoor> {
  const { engine } = options;
  const app = uWS.App();
  const sockets = new Set<WebSocket<Conn>>();
  routeWebSocket(app, engine, sockets);
  routeHttp(app, engine);
  return new Promise((resolve, reject) => {
    app.listen(options.host ?? '127.0.0.1', options.port ?? 0, (socket: us_listen_socket | false) => {
      if (!socket) return reject(new Error(`cannot listen on ${options.host}:${options.port}`));
      resolve({
        port: uWS.us_socket_local_port(socket),
        stopListening() {
          uWS.us_listen_socket_close(socket);
        },
        closeConnections() {
          for (const ws of sockets) ws.end(1001, 'kopilka is shutting down');
          sockets.clear();
        },
      });
    });
  });
}

function bearer(header: string): string {
  return header.startsWith('Bearer ') ? header.slice(7) : '';
}

function routeWebSocket(app: TemplatedApp, engine: Engine, sockets: Set<WebSocket<Conn>>): void {
  app.ws<Conn>('/v1/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: ws_frame_bytes_hard_max,
    maxBackpressure: ws_backpressure_bytes_max,
    idleTimeout: ws_idle_timeout_s,
    upgrade(res, req, context) {
      const key = bearer(req.getHeader('authorization')) || new URLSearchParams(req.getQuery() ?? '').get('key') || '';
      const secKey = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      try {
        engine.terminal(key);
      } catch (err) {
        const body = toErrorBody(err);
        res.cork(() => {
          res.writeStatus(`${httpStatusOf(body.code)} Unauthorized`).writeHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: body }));
        });
        return;
      }
      res.upgrade<Conn>({ key, inFlight: 0, open: true }, secKey, protocol, extensions, context);
    },
    open(ws) {
      sockets.add(ws);
    },
    message(ws, message, isBinary) {
      onFrame(engine, ws, message, isBinary);
    },
    close(ws) {
      sockets.delete(ws);
      ws.getUserData().open = false;
    },
  });
}

function sendFrame(ws: WebSocket<Conn>, frame: unknown): void {
  const conn = ws.getUserData();
  if (!conn.open) return;
  ws.send(packr.pack(frame), true);
}

function sendError(ws: WebSocket<Conn>, id: number, error: ErrorBody): void {
  sendFrame(ws, { id, error });
}

function onFrame(engine: Engine, ws: WebSocket<Conn>, message: ArrayBuffer, isBinary: boolean): void {
  const started = performance.now();
  if (!isBinary) return sendError(ws, 0, { code: 'bad_request', message: 'frames must be binary msgpack' });
  if (message.byteLength > message_bytes_max) {
    return sendError(ws, 0, { code: 'message_too_large', message: `frames must be at most ${message_bytes_max} bytes` });
  }
  let frame: { id?: unknown; op?: unknown; body?: unknown };
  try {
    // uWS reuses the ArrayBuffer after this callback returns: decode it now.
    frame = decodeFrame(new Uint8Array(message)) as typeof frame;
  } catch {
    return sendError(ws, 0, { code: 'bad_request', message: 'the frame is not valid msgpack' });
  }
  if (typeof frame !== 'object' || frame === null || !Number.isSafeInteger(frame.id) || (frame.id as number) < 0) {
    return sendError(ws, 0, { code: 'bad_request', message: 'a frame must be a map with a non-negative integer id' });
  }
  const id = frame.id as number;
  const op = frame.op;
  if (!isOp(op)) {
    engine.metrics.failed(WS_LABELS.unknown, started, 'unknown_op');
    return sendError(ws, id, { code: 'unknown_op', message: `op must be one of ${Object.keys(VALIDATORS).join(', ')}` });
  }
  const conn = ws.getUserData();
  if (conn.inFlight >= connection_in_flight_max) {
    return answerError(engine, ws, op, id, started, new KopilkaError('too_many_in_flight', `at most ${connection_in_flight_max} requests may be in flight per connection`));
  }
  let body: Operations[Op]['request'];
  try {
    body = VALIDATORS[op](frame.body);
    engine.authorize(conn.key, body.outlet);
  } catch (err) {
    return answerError(engine, ws, op, id, started, err);
  }
  let answer: Operations[Op]['result'] | Promise<Operations[Op]['result']>;
  try {
    answer = engine.run(op, body);
  } catch (err) {
    return answerError(engine, ws, op, id, started, err);
  }
  if (!(answer instanceof Promise)) {
    // A read, answered inside this callback: uWS corks the send with the others of this network read.
    engine.metrics.answered(WS_LABELS[op], started, answer);
    ws.send(packr.pack({ id, result: answer }), true);
    return;
  }
  conn.inFlight++;
  answer.then(
    (result) => {
      conn.inFlight--;
      const bytes = packr.pack({ id, result });
      engine.metrics.answered(WS_LABELS[op], started, result);
      if (conn.open) ws.cork(() => ws.send(bytes, true));
    },
    (err: unknown) => {
      conn.inFlight--;
      answerError(engine, ws, op, id, started, err);
    },
  );
}

const WS_LABELS = requestLabels('ws');
const HTTP_LABELS = requestLabels('http');

function answerError(engine: Engine, ws: WebSocket<Conn>, op: Op, id: number, started: number, err: unknown): void {
  const error = toErrorBody(err);
  if (error.code === 'internal') console.error('kopilka: internal error on ws', op, err);
  engine.metrics.failed(WS_LABELS[op], started, error.code);
  const conn = ws.getUserData();
  if (conn.open) ws.cork(() => sendFrame(ws, { id, error }));
}

// ---- HTTP -------------------------------------------------------------------

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

function respond(res: HttpResponse, status: number, json: string, contentType = 'application/json'): void {
  res.cork(() => {
    res.writeStatus(`${status} ${STATUS_TEXT[status] ?? ''}`).writeHeader('content-type', contentType).end(json);
  });
}

function routeHttp(app: TemplatedApp, engine: Engine): void {
  app.post('/v1/:op', (res, req) => onHttpRequest(engine, res, req));
  app.get('/healthz', (res) => {
    const config = engine.config;
    const ok = config !== undefined;
    respond(res, ok ? 200 : 503, JSON.stringify({ ok, configVersion: config?.version ?? 0, shards: engine.shardCount }));
  });
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    engine.metricsText().then(
      (text) => !aborted && respond(res, 200, text, 'text/plain; version=0.0.4'),
      () => !aborted && respond(res, 500, JSON.stringify({ error: { code: 'internal', message: 'metrics failed' } })),
    );
  });
  app.any('/*', (res) => {
    respond(res, 404, JSON.stringify({ error: { code: 'not_found', message: 'no such route; see protocol/README.md' } }));
  });
}

function onHttpRequest(engine: Engine, res: HttpResponse, req: HttpRequest): void {
  // Everything from `req` must be read now: uWS frees it when this function returns.
  const op = req.getParameter(0);
  const key = bearer(req.getHeader('authorization'));
  const state = { aborted: false };
  res.onAborted(() => (state.aborted = true));
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  res.onData((chunk, isLast) => {
    if (tooLarge) return;
    size += chunk.byteLength;
    if (size > message_bytes_max) {
      tooLarge = true;
      return httpError(engine, res, state, isOp(op) ? op : 'unknown', performance.now(),
        new KopilkaError('message_too_large', `bodies must be at most ${message_bytes_max} bytes`));
    }
    // uWS reuses the chunk's memory after this callback: copy it.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) onHttpBody(engine, res, state, op, key, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  });
}

function onHttpBody(engine: Engine, res: HttpResponse, state: { aborted: boolean }, op: string | undefined, key: string, raw: Buffer): void {
  const started = performance.now();
  if (!isOp(op)) {
    return httpError(engine, res, state, 'unknown', started, new KopilkaError('not_found', `POST /v1/<op> where op is one of ${Object.keys(VALIDATORS).join(', ')}`));
  }
  let body: Operations[Op]['request'];
  try {
    let value: unknown;
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new KopilkaError('bad_request', 'the body is not valid JSON');
    }
    body = VALIDATORS[op](value);
    engine.authorize(key, body.outlet);
  } catch (err) {
    return httpError(engine, res, state, op, started, err);
  }
  const answered = (result: Operations[Op]['result']): void => {
    if (state.aborted) return;
    const json = JSON.stringify(result);
    engine.metrics.answered(HTTP_LABELS[op], started, result);
    respond(res, 200, json);
  };
  let answer: Operations[Op]['result'] | Promise<Operations[Op]['result']>;
  try {
    answer = engine.run(op, body);
  } catch (err) {
    return httpError(engine, res, state, op, started, err);
  }
  // A read is answered inside this callback; a write once its shard has answered.
  if (answer instanceof Promise) answer.then(answered, (err: unknown) => httpError(engine, res, state, op, started, err));
  else answered(answer);
}

function httpError(engine: Engine, res: HttpResponse, state: { aborted: boolean }, op: Op | 'unknown', started: number, err: unknown): void {
  const error = toErrorBody(err);
  if (error.code === 'internal') console.error('kopilka: internal error on http', op, err);
  engine.metrics.failed(HTTP_LABELS[op], started, error.code);
  if (!state.aborted) {
    state.aborted = true; // answered: nothing more may be written
    respond(res, httpStatusOf(error.code), JSON.stringify({ error }));
  }
}
