// Transport and input errors: one registry of coded errors shared by every door
// (gRPC, WebSocket, HTTP, admin API). Domain outcomes of a commit are not here:
// they are values (see outcomes.ts). A test checks every code is documented in
// protocol/README.md.

export const ERROR_CODES = {
  bad_request: { http: 400, grpc: 3, doc: 'The message could not be decoded, or is not an object.' },
  invalid_field: { http: 400, grpc: 3, doc: 'A field is missing, of the wrong type or out of range; `field` names it.' },
  unknown_op: { http: 400, grpc: 12, doc: 'The operation named in a frame does not exist.' },
  message_too_large: { http: 413, grpc: 8, doc: 'The message is larger than the door accepts (see limits).' },
  unauthorized: { http: 401, grpc: 16, doc: 'The credential (terminal key or admin token) is missing or wrong.' },
  forbidden_outlet: { http: 403, grpc: 7, doc: 'The terminal key is bound to another outlet than the request names.' },
  card_not_found: { http: 404, grpc: 5, doc: 'No guest holds the card number given.' },
  card_blocked: { http: 409, grpc: 9, doc: 'The card is blocked (blockCard); unblockCard makes it usable again.' },
  card_replaced: { http: 409, grpc: 9, doc: "The card was replaced by another of the guest's cards and is out of use for good." },
  not_found: { http: 404, grpc: 5, doc: 'The resource or route does not exist.' },
  currency_mismatch: { http: 400, grpc: 9, doc: 'The check currency is neither the organization currency nor one it publishes a rate for.' },
  guest_merged: { http: 409, grpc: 10, doc: 'The guest the request was sent to was merged into another on the way; the engine sends it again for the guest its card names now, so a client sees this only after several merges in a row. Retry with the same idempotency key.' },
  too_many_holds: { http: 409, grpc: 9, doc: 'The guest has the most open holds allowed; commit or cancel one first.' },
  too_many_in_flight: { http: 429, grpc: 8, doc: 'The connection has more requests in flight than allowed.' },
  overloaded: { http: 503, grpc: 14, doc: 'A shard queue is full; retry with the same idempotency key.' },
  shard_unavailable: { http: 503, grpc: 14, doc: 'The shard owning the guest restarted while the request was in flight; retry with the same idempotency key.' },
  not_configured: { http: 503, grpc: 14, doc: 'The engine has no configuration yet.' },
  shutting_down: { http: 503, grpc: 14, doc: 'The engine is draining and accepts no new requests.' },
  engine_unavailable: { http: 503, grpc: 14, doc: 'The admin API has no engine for a guest operation (neither operations nor engineUrl), cannot reach it, or its engineKey is refused.' },
  conflict: { http: 409, grpc: 10, doc: 'The admin change conflicts with the current state (e.g. a stale version).' },
  internal: { http: 500, grpc: 13, doc: 'An unexpected error; the request may be retried with the same idempotency key.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The error every door answers with: `{ code, message, field? }`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  field?: string;
}

export class KopilkaError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'KopilkaError';
    this.code = code;
    this.field = field;
  }

  toBody(): ErrorBody {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** Any thrown value as an error body; unexpected errors become `internal`. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof KopilkaError) return err.toBody();
  return { code: 'internal', message: 'internal error' };
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].http;
}

export function grpcStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].grpc;
}
