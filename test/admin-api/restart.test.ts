// Restarts on the same data: an empty database answers not_configured until
// the demo is seeded at a later start; close and start again keeps every
// version and row, and does not seed the demo a second time.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigSnapshot } from '../../dist/admin-api/index.js';
import { backend, call, freshStore, open_timeout_ms, startOn, type TestStore } from './admin-harness.js';

describe(`restart (${backend})`, { timeout: open_timeout_ms }, () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await freshStore();
  });
  afterAll(async () => {
    await store?.dispose();
  });

  it('without the demo: not_configured until an organization exists', async () => {
    const api = await startOn(store, { demoTerminalKey: undefined });
    try {
      expect((await call(api, 'GET', '/healthz', { token: null })).status).toBe(200);
      expect(await api.currentSnapshot()).toBeNull();
      for (const [method, path, body] of [
        ['GET', '/v1/config', undefined],
        ['GET', '/v1/program', undefined],
        ['PUT', '/v1/program', { accrualBp: 1, payMaxBp: 1, pointValueMinor: 1 }],
        ['POST', '/v1/outlets', { id: 'o', name: 'O' }],
      ] as const) {
        const res = await call(api, method, path, { body });
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('not_configured');
      }
      expect((await call(api, 'GET', '/v1/config/versions')).body).toEqual([]);
      expect((await call(api, 'GET', '/v1/outlets')).body).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('seeds at the next start, and keeps everything across close and start', async () => {
    const announced: ConfigSnapshot[] = [];
    const first = await startOn(store, { onPublish: (s) => announced.push(s) });
    expect(announced.map((s) => s.version)).toEqual([1]);
    await call(first, 'POST', '/v1/outlets', { body: { id: 'outlet-2', name: 'Second' } });
    const till = await call(first, 'POST', '/v1/terminals', { body: { id: 'till-2', outletId: 'outlet-2' } });
    expect(till.status).toBe(201);
    await call(first, 'DELETE', '/v1/terminals/terminal-1');
    await call(first, 'PUT', '/v1/program', { body: { accrualBp: 1000, payMaxBp: 2000, pointValueMinor: 50 } });
    const snapshot = await first.currentSnapshot();
    const versions = (await call(first, 'GET', '/v1/config/versions')).body;
    const terminals = (await call(first, 'GET', '/v1/terminals')).body;
    await first.close();
    await first.close(); // closing twice is harmless
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

    // Seeding with another key must not touch the existing data.
    const second = await startOn(store, { demoTerminalKey: 'another-key', onPublish: (s) => announced.push(s) });
    try {
      expect(snapshot!.version).toBe(5);
      expect(snapshot!.terminals.map((t) => t.id)).toEqual(['till-2']);
      expect(await second.currentSnapshot()).toEqual(snapshot);
      expect((await call(second, 'GET', '/v1/config/versions')).body).toEqual(versions);
      expect((await call(second, 'GET', '/v1/terminals')).body).toEqual(terminals);
      const next = await call(second, 'POST', '/v1/outlets', { body: { id: 'outlet-3', name: 'Third' } });
      expect(next.body.version).toBe(6);
    } finally {
      await second.close();
    }
  });

  it.runIf(backend === 'postgres')('answers /healthz with 503 when the database is gone', async () => {
    const doomed = await freshStore();
    const api = await startOn(doomed);
    try {
      expect((await call(api, 'GET', '/healthz', { token: null })).status).toBe(200);
      await doomed.dispose(); // drops the database, cutting the pool's connections
      const res = await call(api, 'GET', '/healthz', { token: null });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ ok: false });
    } finally {
      await api.close();
    }
  });

  it('refuses bad options before opening anything', async () => {
    await expect(startOn(store, { port: 70_000 })).rejects.toMatchObject({ code: 'invalid_field', field: 'port' });
    await expect(startOn(store, { adminToken: '' })).rejects.toMatchObject({ code: 'invalid_field', field: 'adminToken' });
  });
});
