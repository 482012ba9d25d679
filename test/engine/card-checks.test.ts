// The card a request comes by, as the engine reads it past the doors: a card blocked or
// replaced between the routing and the shard's write transaction is refused by the shard
// itself, with the doors' errors, and nothing is written; and the card's kind reaches the
// promotions' card_type conditions on evaluate and commit. Mostly one shard's actor on a
// real LMDB folder, driven as the worker drives it (each call in its own write
// transaction, a coded refusal caught inside it); the last test runs a whole engine.

import { afterEach, describe, expect, it } from 'vitest';
import { resolveCard } from '../../dist/engine/cards.js';
import { GuestRegistry } from '../../dist/engine/guest-registry.js';
import { validateRules } from '../../dist/engine/rules/validate.js';
import type { ConfigSnapshot } from '../../dist/protocol/config.js';
import { OUTLET, line, openLedger, type Ledger } from '../helpers/ledger.js';
import { CHECK_TIME, auditAfterClose, startEngine, testSnapshot } from '../helpers/engine.js';
import { verifyStore } from '../../dist/engine/verify.js';

let opened: ReturnType<typeof openLedger> | undefined;
afterEach(async () => {
  if (opened === undefined) return;
  // After every ledger test: the journal explains every balance and the ledger sums to zero.
  expect(opened.ledger.differences()).toEqual([]);
  await opened.close();
  opened = undefined;
});

/** A ledger serving `rules` (and the organization's `newCardReplacesOthers`), with a registry on the same store. */
function open(rules: unknown = {}, organization: Partial<ConfigSnapshot['organization']> = {}, program = {}) {
  opened = openLedger(program);
  const l = opened.ledger;
  const checked = validateRules(rules);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const s = testSnapshot(2, l.actor.currentConfig.program);
  s.rules = checked.config;
  s.organization = { ...s.organization, ...organization };
  l.actor.setConfig(s);
  const registry = new GuestRegistry(l.store, 0, () => l.actor.currentConfig, () => l.now, { paymentCodeTtlMs: 60_000 });
  return { l, registry };
}

/** Runs `fn` in one write transaction as the worker does: a coded error is the answer, and the transaction still commits. */
function attempt<T>(l: Ledger, fn: () => T): { ok: T } | { err: { code: string; field?: string } } {
  return l.tx(() => {
    try {
      return { ok: fn() };
    } catch (err) {
      return { err: err as { code: string; field?: string } };
    }
  });
}

function commitBody(l: Ledger, card: string, key: string, lines = [line(20_000)], extra: Record<string, unknown> = {}) {
  return { outlet: OUTLET, idempotencyKey: key, time: new Date(l.now).toISOString(), currency: 'RUB', card, lines, pointsSpent: 0, ...extra };
}

/** Everything a refused write must leave as it was. */
function snapshotOf(l: Ledger, guestId: string) {
  return {
    state: l.store.states.get(guestId),
    journal: [...l.store.transactions.getKeys({})].length,
    system: l.store.system.get(0),
    holds: [...l.store.holds.all()].length,
    idempotency: [...l.store.idempotency.getKeys({})].length,
    adjustKeys: [...l.store.adjustKeys.getKeys({})].length,
    topUpKeys: [...l.store.topUpKeys.getKeys({})].length,
  };
}

describe('a card blocked between the routing and the write', () => {
  it('refuses the commit with card_blocked, writes nothing, and leaves the key free for after the unblock', () => {
    const { l, registry } = open({}, {}, { expiryMonths: 1 });
    const g = l.register('C1');
    const first = l.tx(() => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'c-1', [line(200_000)])));
    expect(first).toMatchObject({ outcome: 'ok', accrued: 10_000, balance: 10_000 });
    // A month later the lot has expired: a write would burn it first, and must not.
    l.now = Date.parse('2026-02-16T10:00:00+03:00');
    // The doors resolve the card (active), then the card is blocked before the shard commits.
    expect(resolveCard(l.store, 'C1', l.now, 'active')?.guestId).toBe(g);
    expect(l.tx(() => registry.blockCard(g, { outlet: OUTLET, card: 'C1', reason: 'lost' })).outcome).toBe('ok');
    const before = snapshotOf(l, g);
    const refused = attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'c-2', [line(20_000)])));
    expect(refused).toEqual({ err: expect.objectContaining({ code: 'card_blocked', field: 'card' }) });
    expect(snapshotOf(l, g)).toEqual(before);
    expect(l.store.idempotency.get([OUTLET, 'c-2'])).toBeUndefined();
    // A retry of the first commit is refused too, as the doors refuse it.
    expect(attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'c-1', [line(200_000)])))).toEqual({ err: expect.objectContaining({ code: 'card_blocked' }) });
    // Unblocked, the same key commits: the expired lot burns (10,000) and 5% of 20,000 accrues.
    l.tx(() => registry.unblockCard(g, { outlet: OUTLET, card: 'C1' }));
    const after = l.tx(() => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'c-2', [line(20_000)])));
    expect(after).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000 });
    expect(l.system('breakage')).toBe(10_000);
  });

  it('refuses adjust, top-up and evaluate with a hold by a blocked card, writing nothing', () => {
    const { l, registry } = open({ accounts: [{ id: 'wallet', unit: 'money' }] });
    const g = l.register('C1');
    l.tx(() => l.actor.adjustInTransaction(g, { outlet: OUTLET, idempotencyKey: 'a-0', card: 'C1', points: 5_000, reason: 'gift', operator: 'anna' }));
    l.tx(() => registry.blockCard(g, { outlet: OUTLET, card: 'C1', reason: 'stolen' }));
    const before = snapshotOf(l, g);
    const adjust = attempt(l, () => l.actor.adjustInTransaction(g, { outlet: OUTLET, idempotencyKey: 'a-1', card: 'C1', points: -1_000, reason: 'fix', operator: 'anna' }));
    const topUp = attempt(l, () => l.actor.topUpInTransaction(g, { outlet: OUTLET, idempotencyKey: 't-1', card: 'C1', account: 'wallet', amount: 3_000, operator: 'anna' }));
    const hold = attempt(l, () =>
      l.actor.evaluateWithHoldInTransaction(g, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: 'C1', lines: [line(20_000)], pointsToSpend: 2_000, hold: true }),
    );
    for (const r of [adjust, topUp, hold]) expect(r).toEqual({ err: expect.objectContaining({ code: 'card_blocked', field: 'card' }) });
    expect(snapshotOf(l, g)).toEqual(before);
    expect(l.store.states.get(g)!.holdSeq).toBe(0);
  });

  it('refuses a card replaced by a new one with card_replaced, and takes the new card', () => {
    const { l, registry } = open({}, { newCardReplacesOthers: true });
    const g = l.register('C1');
    expect(resolveCard(l.store, 'C1', l.now, 'active')?.guestId).toBe(g);
    const added = l.tx(() => registry.addCard(g, { outlet: OUTLET, card: 'C1', newCard: 'C2', kind: 'plastic' }, new Date(l.now).toISOString()));
    expect(added).toMatchObject({ outcome: 'ok', replaced: ['C1'] });
    const before = snapshotOf(l, g);
    expect(attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'r-1')))).toEqual({ err: expect.objectContaining({ code: 'card_replaced', field: 'card' }) });
    expect(attempt(l, () => l.actor.adjustInTransaction(g, { outlet: OUTLET, idempotencyKey: 'r-2', card: 'C1', points: 100, reason: 'x', operator: 'y' }))).toEqual({
      err: expect.objectContaining({ code: 'card_replaced' }),
    });
    expect(snapshotOf(l, g)).toEqual(before);
    expect(l.tx(() => l.actor.commitInTransaction(g, commitBody(l, 'C2', 'r-1')))).toMatchObject({ outcome: 'ok', accrued: 1_000, balance: 1_000 });
  });

  it('follows a payment code to its card, even once the code has expired, and an RFID UID in lower case', () => {
    const { l, registry } = open();
    const g = l.register('C1');
    l.tx(() => registry.addCard(g, { outlet: OUTLET, card: 'C1', newCard: 'A1B2C3D4', kind: 'rfid' }, new Date(l.now).toISOString()));
    const { code } = l.tx(() => registry.paymentCode(g, { outlet: OUTLET, card: 'C1' }));
    expect(code).toMatch(/^P[0-9]{8}$/);
    // A code works while its card does.
    expect(l.tx(() => l.actor.commitInTransaction(g, commitBody(l, code, 'p-1')))).toMatchObject({ outcome: 'ok', balance: 1_000 });
    l.tx(() => registry.blockCard(g, { outlet: OUTLET, card: 'C1', reason: 'lost' }));
    l.tx(() => registry.blockCard(g, { outlet: OUTLET, card: 'A1B2C3D4', reason: 'lost' }));
    const before = snapshotOf(l, g);
    expect(attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, code, 'p-2')))).toEqual({ err: expect.objectContaining({ code: 'card_blocked' }) });
    l.now += 120_000;
    expect(attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, code, 'p-3')))).toEqual({ err: expect.objectContaining({ code: 'card_blocked' }) });
    expect(attempt(l, () => l.actor.commitInTransaction(g, commitBody(l, 'a1b2c3d4', 'p-4')))).toEqual({ err: expect.objectContaining({ code: 'card_blocked' }) });
    expect(snapshotOf(l, g)).toEqual(before);
  });
});

/** −10% on the check for a guest who came with an RFID tag. */
const rfidRules = {
  promotions: [
    { id: 'rfid-10', name: '−10% with an RFID tag', status: 'active', condition: { kind: 'card_type', types: ['rfid'] }, effects: [{ kind: 'discount', target: 'check', percentBp: 1000 }] },
  ],
};

describe('the card type in promotions', () => {
  it('applies a card_type condition by the card the guest came with, on evaluate, evaluate with a hold and commit', () => {
    const { l, registry } = open(rfidRules);
    const g = l.register('C1');
    l.tx(() => registry.addCard(g, { outlet: OUTLET, card: 'C1', newCard: 'A1B2C3D4', kind: 'rfid' }, new Date(l.now).toISOString()));
    const { code } = l.tx(() => registry.paymentCode(g, { outlet: OUTLET, card: 'A1B2C3D4' }));
    const evaluate = (card: string) =>
      l.reader.evaluate(l.actor.currentConfig, g, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card, lines: [line(20_000)], explain: true });
    // RFID (as kept, in lower case, or by a payment code of it): 2,000 off 20,000; plastic: nothing.
    for (const card of ['A1B2C3D4', 'a1b2c3d4', code]) expect(evaluate(card), card).toMatchObject({ total: 20_000, discount: 2_000, moneyToPay: 18_000 });
    const plastic = evaluate('C1');
    expect(plastic.discount).toBe(0);
    expect(plastic.explanation).toEqual([expect.objectContaining({ promotion: 'rfid-10', applied: false, reason: 'condition' })]);
    // A card without a record (a shard driven directly) has no type: the condition fails.
    expect(evaluate('no-such-card').discount).toBe(0);

    // On the shard: the hold's decision and the commit's read the card in their own transaction.
    l.tx(() => l.actor.adjustInTransaction(g, { outlet: OUTLET, idempotencyKey: 'gift', card: 'C1', points: 10_000, reason: 'gift', operator: 'anna' }));
    const hold = l.tx(() =>
      l.actor.evaluateWithHoldInTransaction(g, { outlet: OUTLET, time: new Date(l.now).toISOString(), currency: 'RUB', card: 'A1B2C3D4', lines: [line(20_000)], pointsToSpend: 9_000, hold: true }),
    );
    // 50% of the 18,000 left after the discount: 9,000.
    expect(hold).toMatchObject({ discount: 2_000, pointsToSpend: 9_000, holdId: `${g}.h1` });
    const rfid = l.tx(() => l.actor.commitInTransaction(g, commitBody(l, 'A1B2C3D4', 'k-rfid', [line(20_000)], { pointsSpent: 9_000, holdId: hold.holdId })));
    expect(rfid).toMatchObject({ outcome: 'ok', discount: 2_000, spent: 9_000, promotions: [{ promotion: 'rfid-10', discount: 2_000, points: 0 }] });
    const byPlastic = l.tx(() => l.actor.commitInTransaction(g, commitBody(l, 'C1', 'k-plastic')));
    expect(byPlastic).toMatchObject({ outcome: 'ok', discount: 0, accrued: 1_000, promotions: [] });
    const byCode = l.tx(() => l.actor.commitInTransaction(g, commitBody(l, code, 'k-code')));
    expect(byCode).toMatchObject({ outcome: 'ok', discount: 2_000, promotions: [{ promotion: 'rfid-10', discount: 2_000, points: 0 }] });
  });

  it('reaches the promotions through the engine: evaluate on the doors\' thread, commit in the shard', async () => {
    const t = await startEngine({ shards: 2, threads: 1 });
    try {
      const s = testSnapshot(2);
      const checked = validateRules(rfidRules);
      if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
      s.rules = checked.config;
      t.engine.applyConfig(s);
      const reg = await t.engine.execute('register', { outlet: OUTLET, card: 'PL-1' });
      expect(await t.engine.execute('addCard', { outlet: OUTLET, card: 'PL-1', newCard: 'C0FFEE02', kind: 'rfid' })).toMatchObject({ outcome: 'ok', guestId: reg.guestId });
      const check = (card: string, extra: Record<string, unknown> = {}) =>
        ({ outlet: OUTLET, card, time: CHECK_TIME, currency: 'RUB', lines: [{ itemCode: 'SOUP', quantity: 2, unitPrice: 10_000 }], ...extra }) as any;
      expect(await t.engine.execute('evaluate', check('c0ffee02'))).toMatchObject({ guestId: reg.guestId, total: 20_000, discount: 2_000 });
      expect(await t.engine.execute('evaluate', check('PL-1'))).toMatchObject({ guestId: reg.guestId, total: 20_000, discount: 0 });
      expect(await t.engine.execute('commit', check('C0FFEE02', { idempotencyKey: 'e-rfid', pointsSpent: 0 }))).toMatchObject({ outcome: 'ok', discount: 2_000 });
      expect(await t.engine.execute('commit', check('PL-1', { idempotencyKey: 'e-plastic', pointsSpent: 0 }))).toMatchObject({ outcome: 'ok', discount: 0, accrued: 1_000 });
      await auditAfterClose(t, (store) => expect(verifyStore(store).differences).toEqual([]));
    } finally {
      await t.close().catch(() => undefined);
    }
  });
});
