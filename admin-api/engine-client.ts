// How the admin API reaches the engine for the guest routes (look-up,
// adjustments, top-ups). Embedded in one process with the engine it is handed
// `(op, body) => engine.execute(op, body)`; run as a service of its own it
// forwards to the engine's HTTP door as a terminal of the outlet `admin`; with
// neither, every guest operation is refused with `engine_unavailable`. All three
// answer alike: the operation's result, or a KopilkaError with the engine's code.

import { isErrorCode, KopilkaError, type ErrorBody } from '../protocol/errors.js';
import type { Op, Operations } from '../protocol/types.js';

/** The outlet the admin API's operations name: journalled under it, and the engine key's outlet when forwarded. */
export const admin_outlet_id = 'admin';

/** Runs one validated protocol request on the engine: its result, or a coded error. */
export type EngineOperations = <O extends Op>(op: O, body: Operations[O]['request']) => Promise<Operations[O]['result']>;

export interface EngineDoorOptions {
  /** The engine's HTTP door, `http://host:port`, without a trailing slash. */
  url: string;
  /** The key of a terminal bound to the outlet the requests name. */
  key: string;
  /** A request not answered in this long fails with `engine_unavailable`. */
  timeoutMs: number;
  /** An answer larger than this fails with `engine_unavailable`. */
  answerBytesMax: number;
}

/** The operations of an engine reached over its HTTP door (`POST <url>/v1/<op>`). */
export function engineDoorClient(options: EngineDoorOptions): EngineOperations {
  const { url, key, timeoutMs, answerBytesMax } = options;
  return async (op, body) => {
    let status: number;
    let text: string;
    try {
      const res = await fetch(`${url}/v1/${op}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        // Covers the answer's body too: a reader that stalls half-way is cut as well.
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      text = await readText(res, answerBytesMax);
    } catch (err) {
      throw unreachable(url, op, err);
    }
    if (status === 200) return parseJson(text, url, op) as Operations[typeof op]['result'];
    throw doorError(status, parseJson(text, url, op), url);
  };
}

/** The operations of no engine: every one refused, saying how to give the admin API one. */
export function noEngine(): EngineOperations {
  return (op) =>
    Promise.reject(
      new KopilkaError(
        'engine_unavailable',
        `${op} needs the engine, and this admin API has none: run it in one process with the engine (operations), ` +
          'or give it engineUrl and the engineKey of a terminal of outlet "admin"',
      ),
    );
}

/** Reads the answer as text, refusing more than `bytesMax` before buffering it. */
async function readText(res: Response, bytesMax: number): Promise<string> {
  if (Number(res.headers.get('content-length') ?? 0) > bytesMax) {
    await res.body?.cancel();
    throw new Error(`the answer is larger than ${bytesMax} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader = res.body?.getReader();
  for (let read = await reader?.read(); read !== undefined && !read.done; read = await reader?.read()) {
    bytes += read.value.byteLength;
    if (bytes > bytesMax) {
      await reader?.cancel();
      throw new Error(`the answer is larger than ${bytesMax} bytes`);
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string, url: string, op: Op): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new KopilkaError('engine_unavailable', `the engine at ${url} answered ${op} with something that is not JSON: is engineUrl the engine's HTTP door?`);
  }
}

/**
 * The error the door answered, as the KopilkaError it was. A refused engine key
 * is the admin API's configuration at fault, not the caller's admin token:
 * answering 401 or 403 would send the operator looking in the wrong place.
 */
function doorError(status: number, answer: unknown, url: string): KopilkaError {
  const error = (answer as { error?: Partial<ErrorBody> } | null)?.error;
  if (error === undefined || error === null || !isErrorCode(error.code) || typeof error.message !== 'string') {
    return new KopilkaError('engine_unavailable', `the engine at ${url} answered HTTP ${status} without a kopilka error: is engineUrl the engine's HTTP door?`);
  }
  switch (error.code) {
    case 'unauthorized':
    case 'forbidden_outlet':
      return new KopilkaError(
        'engine_unavailable',
        `the engine refused engineKey (${error.code}: ${error.message}): give the key of a terminal of outlet "admin" ` +
          '(POST /v1/outlets, then POST /v1/terminals)',
      );
    case 'not_found':
      // The door answers not_found for a path it does not serve: engineUrl names something else.
      return new KopilkaError('engine_unavailable', `the engine at ${url} has no such operation (${error.message}): is engineUrl the engine's HTTP door?`);
    default:
      return new KopilkaError(error.code, error.message, typeof error.field === 'string' ? error.field : undefined);
  }
}

function unreachable(url: string, op: Op, err: unknown): KopilkaError {
  // A write may have been applied before its answer was lost: a retry with its key is safe.
  const retry = op === 'balance' || op === 'identify' ? 'retry' : 'retry with the same idempotencyKey';
  return new KopilkaError('engine_unavailable', `${op} got no answer from the engine at ${url} (${reasonOf(err)}); ${retry}`);
}

function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'no answer in time';
  // fetch says "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, …).
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : '';
  return detail === '' ? err.message : `${err.message}: ${detail}`;
}
