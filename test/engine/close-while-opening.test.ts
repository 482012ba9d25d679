// Closing an engine whose shards are still opening their LMDB store. A worker thread
// stopped inside a native call aborts the whole process ("FATAL ERROR:
// Error::ThrowAsJavaScriptException napi_throw"), so closing waits for each shard to
// serve before the workers stop. Run in a child process: an abort there is an exit code
// here, not the end of the test runner.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const engineUrl = pathToFileURL(join(process.cwd(), 'dist/engine/engine.js')).href;
const demoUrl = pathToFileURL(join(process.cwd(), 'dist/engine/demo-config.js')).href;

const script = (dir: string, rounds: number) => `
  const { Engine } = await import(${JSON.stringify(engineUrl)});
  const { demoSnapshot } = await import(${JSON.stringify(demoUrl)});
  for (let i = 0; i < ${rounds}; i++) {
    const engine = Engine.open({ dataDir: ${JSON.stringify(dir)} + '/' + i, shards: 4, threads: 2 });
    engine.applyConfig(demoSnapshot('key'));
    // At once: the shards are still opening their store.
    await engine.close();
  }
  console.log('closed ${rounds}');
`;

describe('closing an engine at once after opening it', () => {
  it('stops every shard cleanly, round after round, without aborting the process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kopilka-close-'));
    try {
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script(dir, 25)], { encoding: 'utf8', timeout: 120_000 });
      expect(run.stderr).not.toContain('FATAL ERROR');
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('closed 25');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 130_000);
});
