// `merge` through every door: HTTP JSON (POST /v1/merge), WebSocket frames, the gRPC unary
// `Merge` and the Stream's member `merge` (26). Each merges two guests of different shards,
// answers a retry with `exists`, and refuses an unknown card naming the field.

import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGrpcDoor, type GrpcDoor } from '../../dist/adapters/grpc-door.js';
import { startUwsDoor } from '../../dist/adapters/uws-door.js';
import { guestShard } from '../../dist/engine/store.js';
import { verifyStore } from '../../dist/engine/verify.js';
import { CHECK_TIME, auditAfterClose, OUTLET, TERMINAL_KEY, lines, startEngine } from '../helpers/engine.js';
import { KopilkaTestClient } from '../helpers/grpc-client.js';
import { WsClient } from '../helpers/ws-client.js';

let t: Awaited<ReturnType<typeof startEngine>>;
let uws: Awaited<ReturnType<typeof startUwsDoor>>;
let grpcDoor: GrpcDoor;
let client: KopilkaTestClient;
let base: string;

async function post(op: string, body: Record<string, unknown>) {
  const res = await fetch(`${base}/v1/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TERMINAL_KEY}` },
    body: JSON.stringify({ outlet: OUTLET, ...body }),
  });
  return { status: res.status, json: (await res.json()) as any };
}

let registered = 0;
/**
 * Two new guests in different shards, with 1,000 points (the one who stays, a check of
 * 20,000) and 2,000 points (the one merged away, a check of 40,000).
 */
async function pair(prefix: string): Promise<{ into: string; from: string; intoId: string; fromId: string; check: string }> {
  const register = async () => {
    const card = `${prefix}-${registered++}`;
    return { card, guestId: (await post('register', { card })).json.guestId as string };
  };
  const into = await register();
  let from = await register();
  while (guestShard(from.guestId) === guestShard(into.guestId)) from = await register();
  await post('commit', { idempotencyKey: `${into.card}-c`, card: into.card, time: CHECK_TIME, currency: 'RUB', lines: lines(2, 10_000) });
  const check = await post('commit', { idempotencyKey: `${from.card}-c`, card: from.card, time: CHECK_TIME, currency: 'RUB', lines: lines(4, 10_000) });
  expect(check.json.balance).toBe(2_000);
  return { into: into.card, from: from.card, intoId: into.guestId, fromId: from.guestId, check: check.json.transactionId };
}

beforeAll(async () => {
  t = await startEngine({ shards: 4, threads: 2 });
  uws = await startUwsDoor({ engine: t.engine, port: 0 });
  base = `http://127.0.0.1:${uws.port}`;
  grpcDoor = await startGrpcDoor({ engine: t.engine });
  client = new KopilkaTestClient(grpcDoor.port);
});
afterAll(async () => {
  client?.close();
  await grpcDoor?.close(1_000);
  uws?.stopListening();
  uws?.closeConnections();
  try {
    await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
  } finally {
    await t.close().catch(() => undefined);
  }
});

describe('merge through the doors', () => {
  it('HTTP: POST /v1/merge merges, answers a retry, shows both entries, and refuses a refund of the merged guest', async () => {
    const p = await pair('H');
    const merged = await post('merge', { idempotencyKey: 'h-1', card: p.into, from: p.from });
    expect(merged).toEqual({ status: 200, json: { outcome: 'ok', mergeId: `${p.fromId}.m1`, guestId: p.intoId, balance: 3_000, cardsMoved: 1 } });
    expect((await post('merge', { idempotencyKey: 'h-1', card: p.into, from: p.from })).json).toEqual({ ...merged.json, outcome: 'exists' });
    const bal = await post('balance', { card: p.from, limit: 2 });
    expect(bal.json).toMatchObject({ guestId: p.intoId, balance: 3_000 });
    expect(bal.json.transactions.map((x: any) => [x.kind, x.accrued, x.balanceAfter])).toEqual([['merge_in', 2_000, 3_000], ['check', 1_000, 1_000]]);
    const refund = await post('refund', { idempotencyKey: 'h-r', transactionId: p.check });
    expect(refund.json).toMatchObject({ outcome: 'guest_merged', guestId: p.fromId, returned: 0 });
    expect(await post('merge', { idempotencyKey: 'h-2', card: p.into, from: 'NOPE' })).toEqual({
      status: 404, json: { error: { code: 'card_not_found', message: expect.any(String), field: 'from' } },
    });
    expect((await post('merge', { idempotencyKey: 'h-3', card: p.into })).json.error).toMatchObject({ code: 'invalid_field', field: 'from' });
    expect((await post('merge', { idempotencyKey: 'h-4', card: p.into, from: p.into })).json).toMatchObject({ outcome: 'same_guest', mergeId: '' });
  });

  it('WebSocket: a merge frame is answered with its id', async () => {
    const p = await pair('W');
    const ws = await WsClient.connect(uws.port, TERMINAL_KEY);
    try {
      const reply = await ws.request('merge', { outlet: OUTLET, idempotencyKey: 'w-1', card: p.into, from: p.from });
      expect(reply.result).toEqual({ outcome: 'ok', mergeId: `${p.fromId}.m1`, guestId: p.intoId, balance: 3_000, cardsMoved: 1 });
      const other = await ws.request('merge', { outlet: OUTLET, idempotencyKey: 'w-1', card: p.into, from: 'W-other' });
      expect(other.result).toMatchObject({ outcome: 'exists_with_different_from', mergeId: `${p.fromId}.m1` });
      const bad = await ws.request('merge', { outlet: OUTLET, idempotencyKey: 'w-2', card: p.into, from: 7 });
      expect(bad.error).toMatchObject({ code: 'invalid_field', field: 'from' });
      const id = await ws.request('identify', { outlet: OUTLET, card: p.from });
      expect(id.result).toMatchObject({ guestId: p.intoId, balance: 3_000 });
      expect(id.result.cards.map((c: any) => c.card)).toEqual([p.into, p.from]);
    } finally {
      ws.ws.close();
    }
  });

  it('gRPC: the unary Merge and the Stream member merge', async () => {
    const p = await pair('G');
    const merged = await client.call('Merge', { outlet: OUTLET, idempotencyKey: 'g-1', card: p.into, from: p.from }, TERMINAL_KEY);
    expect(merged).toEqual({ outcome: 'ok', mergeId: `${p.fromId}.m1`, guestId: p.intoId, balance: 3_000, cardsMoved: 1 });
    const refused = await client.refusal('Merge', { outlet: OUTLET, idempotencyKey: 'g-2', card: 'NOPE', from: p.into }, TERMINAL_KEY);
    expect(refused).toMatchObject({ code: grpc.status.NOT_FOUND, errorCode: 'card_not_found', errorField: 'card' });
    const history = await client.call('Balance', { outlet: OUTLET, card: p.from, limit: 1 }, TERMINAL_KEY);
    expect(history.transactions[0]).toMatchObject({ kind: 'merge_in', accrued: 2_000, balanceAfter: 3_000 });

    const q = await pair('GS');
    const s = client.stream(TERMINAL_KEY);
    const reply = await s.send(1, { merge: { outlet: OUTLET, idempotencyKey: 'gs-1', card: q.into, from: q.from } });
    expect(reply).toEqual({ id: 1, reply: 'merge', merge: { outcome: 'ok', mergeId: `${q.fromId}.m1`, guestId: q.intoId, balance: 3_000, cardsMoved: 1 } });
    const again = await s.send(2, { merge: { outlet: OUTLET, idempotencyKey: 'gs-1', card: q.into, from: q.from } });
    expect(again.merge).toMatchObject({ outcome: 'exists', balance: 3_000 });
    const malformed = await s.send(3, { merge: { outlet: OUTLET, idempotencyKey: 'gs-2', card: q.into } });
    expect(malformed).toMatchObject({ id: 3, reply: 'error', error: { code: 'invalid_field', field: 'from' } });
    expect((await s.end()).code).toBe(grpc.status.OK);
  });
});
