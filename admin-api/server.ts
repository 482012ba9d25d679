// The admin API's HTTP service: opens the store, migrates it, seeds the demo,
// and serves the routes in routes.ts. node:http is enough: admin traffic is a
// few requests a minute, the engine's poll included.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigSnapshot } from '../protocol/config.js';
import { httpStatusOf, KopilkaError, toErrorBody } from '../protocol/errors.js';
import { CompiledRulesCache } from './compiled-rules-cache.js';
import { readCurrentSnapshot } from './config-store.js';
import { seedDemo } from './demo.js';
import { engineDoorClient, noEngine, type EngineOperations } from './engine-client.js';
import {
  author_chars_max,
  body_bytes_max,
  close_drain_ms,
  engine_answer_bytes_max,
  engine_request_timeout_ms,
} from './limits.js';
import { runMigrations } from './migrations.js';
import { checkBody } from './request-schemas.js';
import { routes, type Route, type RouteReply } from './routes.js';
import { openSqlClient, type SqlClient } from './sql-client.js';

export interface AdminApiOptions {
  /** A Postgres URL. Default: none, and PGlite embedded under `dataDir`. */
  databaseUrl?: string;
  /** Where PGlite keeps its files (`<dataDir>/admin-pg`); unused with `databaseUrl`. */
  dataDir: string;
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Interface to listen on. Default "127.0.0.1": admin is not for the open internet. */
  host?: string;
  /** The bearer token every route but /healthz requires. Non-empty. */
  adminToken: string;
  /** When given, an empty database is seeded with the demo, terminal-1 holding this key. */
  demoTerminalKey?: string;
  /** Called after every version this process publishes; its errors are logged, not raised. */
  onPublish?: (snapshot: ConfigSnapshot) => void;
  /**
   * The engine in this process, for the guest routes (`/v1/guests/...`):
   * `(op, body) => engine.execute(op, body)`. Default: none; then `engineUrl`,
   * or without it the guest routes answer `engine_unavailable`.
   */
  operations?: EngineOperations;
  /**
   * An engine elsewhere, for the guest routes: its HTTP door (`http://host:8080`),
   * reached as a terminal of the outlet `admin` with `engineKey`. Not with `operations`.
   */
  engineUrl?: string;
  /** The key of a terminal of outlet `admin` (POST /v1/outlets, POST /v1/terminals); required with `engineUrl`. */
  engineKey?: string;
}

export interface AdminApi {
  /** `http://host:port`, without a trailing slash. */
  url: string;
  port: number;
  /** Stops listening, lets requests in flight finish, closes the store. */
  close(): Promise<void>;
  currentSnapshot(): Promise<ConfigSnapshot | null>;
}

interface CompiledOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  host: string;
  /** SHA-256 of the token: equal lengths make the comparison constant-time. */
  tokenDigest: Buffer;
  demoTerminalKey: string | undefined;
  onPublish: ((snapshot: ConfigSnapshot) => void) | undefined;
  /** The engine as the guest routes reach it: in process, over its HTTP door, or none. */
  operations: EngineOperations;
}

export async function startAdminApi(options: AdminApiOptions): Promise<AdminApi> {
  const opts = compileOptions(options);
  const sql = await openSqlClient({ databaseUrl: opts.databaseUrl, dataDir: opts.dataDir });
  try {
    await runMigrations(sql);
    const notify = publishNotifier(opts.onPublish);
    const compiledRules = new CompiledRulesCache();
    if (opts.demoTerminalKey !== undefined) {
      const seeded = await seedDemo(sql, { terminalKey: opts.demoTerminalKey });
      if (seeded !== null) notify(seeded);
    }
    const server = createServer((req, res) => {
      void handle(req, res, { sql, tokenDigest: opts.tokenDigest, notify, compiledRules, operations: opts.operations });
    });
    const port = await listen(server, opts.port, opts.host);
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host}:${port}`,
      port,
      close: () => (closing ??= closeAll(server, sql)),
      currentSnapshot: () => readCurrentSnapshot(sql),
    };
  } catch (err) {
    await sql.close();
    throw err;
  }
}

function compileOptions(options: AdminApiOptions): Readonly<CompiledOptions> {
  const { port, adminToken, dataDir } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new KopilkaError('invalid_field', 'options.port must be an integer from 0 to 65535 (0 picks a free port)', 'port');
  }
  if (typeof adminToken !== 'string' || adminToken.length === 0) {
    throw new KopilkaError('invalid_field', 'options.adminToken must be a non-empty string', 'adminToken');
  }
  if (options.databaseUrl === undefined && (typeof dataDir !== 'string' || dataDir.length === 0)) {
    throw new KopilkaError('invalid_field', 'options.dataDir must name a directory when no databaseUrl is given', 'dataDir');
  }
  if (options.demoTerminalKey !== undefined && options.demoTerminalKey.length === 0) {
    throw new KopilkaError('invalid_field', 'options.demoTerminalKey must be non-empty when given', 'demoTerminalKey');
  }
  return Object.freeze({
    databaseUrl: options.databaseUrl,
    dataDir,
    port,
    host: options.host ?? '127.0.0.1',
    tokenDigest: sha256(adminToken),
    demoTerminalKey: options.demoTerminalKey,
    onPublish: options.onPublish,
    operations: compileOperations(options),
  });
}

/** The guest routes' engine: the one in this process, one behind its HTTP door, or none. */
function compileOperations({ operations, engineUrl, engineKey }: AdminApiOptions): EngineOperations {
  if (operations !== undefined) {
    if (typeof operations !== 'function') {
      throw new KopilkaError('invalid_field', 'options.operations must be a function (op, body) => Promise<result>, e.g. engine.execute', 'operations');
    }
    if (engineUrl !== undefined || engineKey !== undefined) {
      throw new KopilkaError(
        'invalid_field',
        'options.engineUrl and options.engineKey cannot be given with options.operations: the admin API reaches one engine',
        'engineUrl',
      );
    }
    return operations;
  }
  if (engineUrl === undefined) {
    if (engineKey !== undefined) {
      throw new KopilkaError('invalid_field', 'options.engineKey needs options.engineUrl: the engine to present it to', 'engineUrl');
    }
    return noEngine();
  }
  if (typeof engineKey !== 'string' || engineKey.length === 0) {
    throw new KopilkaError('invalid_field', 'options.engineKey must be the key of a terminal of outlet "admin" when engineUrl is given', 'engineKey');
  }
  return engineDoorClient({
    url: engineBaseUrl(engineUrl),
    key: engineKey,
    timeoutMs: engine_request_timeout_ms,
    answerBytesMax: engine_answer_bytes_max,
  });
}

function engineBaseUrl(engineUrl: string): string {
  let url: URL | undefined;
  try {
    url = new URL(engineUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '') {
    throw new KopilkaError('invalid_field', 'options.engineUrl must be the http(s) URL of the engine\'s HTTP door, e.g. "http://127.0.0.1:8080"', 'engineUrl');
  }
  // Requests go to `<engineUrl>/v1/<op>`: a trailing slash would double it.
  return url.href.replace(/\/+$/, '');
}

/**
 * Wraps onPublish: a failing listener must not fail the change (it is already
 * committed), and concurrent publishes may finish out of order, so an older
 * version than one already announced is not announced: the listener only ever
 * moves forward.
 */
function publishNotifier(onPublish: ((snapshot: ConfigSnapshot) => void) | undefined) {
  let announced = 0;
  return (snapshot: ConfigSnapshot): void => {
    if (onPublish === undefined || snapshot.version <= announced) return;
    announced = snapshot.version;
    try {
      const returned: unknown = onPublish(snapshot);
      if (returned instanceof Promise) returned.catch((err: unknown) => logListenerError(err));
    } catch (err) {
      logListenerError(err);
    }
  };
}

function logListenerError(err: unknown): void {
  console.error('kopilka admin-api: onPublish failed; the version is published regardless', err);
}

interface HandlerContext {
  sql: SqlClient;
  tokenDigest: Buffer;
  notify: (snapshot: ConfigSnapshot) => void;
  compiledRules: CompiledRulesCache;
  operations: EngineOperations;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    // Unauthenticated on purpose: load balancers and orchestrators probe it.
    if (req.method === 'GET' && url.pathname === '/healthz') return await healthz(res, ctx.sql);
    authorize(req, ctx.tokenDigest);
    const { route, params } = matchRoute(req.method ?? '', url.pathname);
    const author = route.method === 'GET' ? 'admin' : authorOf(req);
    const bytesMax = route.bodyBytesMax ?? body_bytes_max;
    const body = route.schema === null ? undefined : checkBody(route.schema, await readJson(req, bytesMax));
    const reply = await route.handle({
      sql: ctx.sql, params, query: url.searchParams, headers: req.headers, body, author,
      compiledRules: ctx.compiledRules, operations: ctx.operations,
    });
    send(res, reply);
    if (reply.published) ctx.notify(reply.published);
  } catch (err) {
    sendError(res, err);
  }
}

async function healthz(res: ServerResponse, sql: SqlClient): Promise<void> {
  try {
    await sql.query('select 1');
    send(res, { status: 200, body: { ok: true } });
  } catch {
    // Not an error body: the probe asked a question, and this is the answer.
    send(res, { status: 503, body: { ok: false } });
  }
}

function authorize(req: IncomingMessage, tokenDigest: Buffer): void {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer +(.+)$/i.exec(header);
  // Compared as digests: timingSafeEqual needs equal lengths, and comparing
  // digests leaks neither the token's bytes nor its length through timing.
  if (match === null || !timingSafeEqual(sha256(match[1] ?? ''), tokenDigest)) {
    throw new KopilkaError('unauthorized', 'send the admin token as "Authorization: Bearer <token>"');
  }
}

function matchRoute(method: string, pathname: string): { route: Route; params: string[] } {
  const allowed: string[] = [];
  for (const route of routes) {
    const match = route.path.exec(pathname);
    if (match === null) continue;
    if (route.method !== method) {
      allowed.push(route.method);
      continue;
    }
    return { route, params: match.slice(1).map(decodeParam) };
  }
  const hint = allowed.length > 0 ? ` (this path takes ${allowed.join(', ')})` : '';
  throw new KopilkaError('not_found', `no route ${method} ${pathname}${hint}`);
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new KopilkaError('not_found', `${raw} is not a valid path segment`);
  }
}

function authorOf(req: IncomingMessage): string {
  const header = req.headers['x-kopilka-author'];
  const author = (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
  if (author === '') return 'admin';
  if ([...author].length > author_chars_max) {
    throw new KopilkaError(
      'invalid_field',
      `x-kopilka-author must be at most ${author_chars_max} characters: send a name or an e-mail`,
      'x-kopilka-author',
    );
  }
  return author;
}

/** Reads the body as JSON, refusing more than `bytesMax` before buffering it. */
function readJson(req: IncomingMessage, bytesMax: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > bytesMax) return Promise.reject(tooLarge(bytesMax));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > bytesMax) {
        // Stop buffering; the rest is read and dropped so the 413 can be sent.
        req.off('data', onData);
        req.resume();
        reject(tooLarge(bytesMax));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', reject);
    req.on('end', () => {
      if (bytes > bytesMax) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new KopilkaError('bad_request', 'the body is not valid JSON'));
      }
    });
  });
}

function tooLarge(bytesMax: number): KopilkaError {
  return new KopilkaError('message_too_large', `the body must be at most ${bytesMax} bytes`);
}

function send(res: ServerResponse, reply: RouteReply): void {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(Buffer.byteLength(text));
  res.writeHead(reply.status, headers).end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  if (!(err instanceof KopilkaError)) console.error('kopilka admin-api: unexpected error', err);
  const body = toErrorBody(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {};
  // A body we refused may still be arriving: close rather than read it all.
  if (body.code === 'message_too_large') headers.connection = 'close';
  send(res, { status: httpStatusOf(body.code), body: { error: body }, headers });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeAll(server: Server, sql: SqlClient): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive connections would hold close() open: idle ones go now, busy
  // ones when their request is answered or the drain time is up.
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), close_drain_ms);
  await closed;
  clearTimeout(cut);
  await sql.close();
}
