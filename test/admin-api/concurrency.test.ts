// Concurrent changes: each publishes its own version, the versions are
// consecutive, none is lost, and the last version holds every change.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminApi } from '../../dist/admin-api/index.js';
import { backend, call, freshStore, open_timeout_ms, startOn, test_timeout_ms, type TestStore } from './admin-harness.js';

const writers = 20;

describe(`concurrent changes (${backend})`, { timeout: test_timeout_ms }, () => {
  let store: TestStore;
  let api: AdminApi;
  const announced: number[] = [];

  beforeAll(async () => {
    store = await freshStore();
    // A listener that fails must not fail the change it hears about.
    api = await startOn(store, {
      onPublish: (s) => {
        announced.push(s.version);
        if (s.version === 2) throw new Error('listener failure under test (expected in the log)');
      },
    });
  }, open_timeout_ms);

  afterAll(async () => {
    await api?.close();
    await store?.dispose();
  });

  it(`${writers} PUTs at once publish ${writers} distinct consecutive versions`, async () => {
    const results = await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        call(api, 'PUT', '/v1/program', {
          body: { accrualBp: i, payMaxBp: 5000, pointValueMinor: 100 },
          headers: { 'x-kopilka-author': `writer-${i}` },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(writers).fill(200));
    const versions = results.map((r) => r.body.version).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: writers }, (_, i) => i + 2));

    // Each version holds the edit that published it, by its author.
    const history = (await call(api, 'GET', `/v1/config/versions?limit=${writers + 1}`)).body;
    expect(history.map((v: { version: number }) => v.version)).toEqual(
      Array.from({ length: writers + 1 }, (_, i) => writers + 1 - i),
    );
    for (const r of results) {
      const writer = history.find((v: { version: number }) => v.version === r.body.version);
      expect(writer.author).toBe(`writer-${r.body.program.accrualBp}`);
    }
    const latest = results.find((r) => r.body.version === writers + 1)!;
    expect((await call(api, 'GET', '/v1/program')).body).toEqual(latest.body);
    expect(Math.max(...announced)).toBe(writers + 1);
    // Out-of-order completions are never announced backwards.
    expect([...announced].sort((a, b) => a - b)).toEqual(announced);
  });

  it('PUTs racing on one expectedVersion: exactly one wins, the rest conflict', async () => {
    const base = (await call(api, 'GET', '/v1/program')).body.version;
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(api, 'PUT', '/v1/program', { body: { accrualBp: i, payMaxBp: 1, pointValueMinor: 1, expectedVersion: base } }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(9);
    expect((await call(api, 'GET', '/v1/program')).body.version).toBe(base + 1);
  });

  it('outlets and terminals created at once all land in the last snapshot', async () => {
    const base = (await call(api, 'GET', '/v1/config')).body.version;
    const outlets = await Promise.all(
      Array.from({ length: 10 }, (_, i) => call(api, 'POST', '/v1/outlets', { body: { id: `o-${i}`, name: `Outlet ${i}` } })),
    );
    expect(outlets.map((r) => r.status)).toEqual(Array(10).fill(201));
    const terminals = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(api, 'POST', '/v1/terminals', { body: { id: `t-${i}`, outletId: `o-${i}` } }),
      ),
    );
    expect(new Set(terminals.map((r) => r.body.key)).size).toBe(10);
    const snapshot = (await call(api, 'GET', '/v1/config')).body;
    expect(snapshot.version).toBe(base + 20);
    expect(snapshot.outlets).toHaveLength(11);
    expect(snapshot.terminals).toHaveLength(11);
  });
});
