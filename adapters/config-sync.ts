// Keeps the engine on the admin API's newest configuration. The engine polls
// `GET /v1/config` with the version it runs as ETag, so an unchanged configuration
// costs a 304. When the admin API or its Postgres is down the engine keeps serving
// the version it has (remembered in LMDB across restarts) and tries again.

import type { Engine } from '../engine/engine.js';
import { withRules, type ConfigSnapshot, type StoredConfigSnapshot } from '../protocol/config.js';

/** How often the engine asks for a newer configuration. */
export const config_poll_interval_ms_default = 1000;
/** One poll may take this long before it is abandoned. */
const config_poll_timeout_ms = 5000;

export interface ConfigSync {
  /** Polls once now; resolves true when a newer version was applied. */
  pollNow(): Promise<boolean>;
  stop(): void;
}

export function startConfigSync(opts: { engine: Engine; adminUrl: string; adminToken: string; intervalMs?: number }): ConfigSync {
  const { engine } = opts;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function pollNow(): Promise<boolean> {
    const headers: Record<string, string> = { authorization: `Bearer ${opts.adminToken}` };
    const current = engine.config?.version;
    if (current !== undefined) headers['if-none-match'] = `"${current}"`;
    try {
      const res = await fetch(`${opts.adminUrl}/v1/config`, { headers, signal: AbortSignal.timeout(config_poll_timeout_ms) });
      if (failing) console.log('kopilka: admin API reachable again');
      failing = false;
      if (res.status === 304) return false;
      if (!res.ok) throw new Error(`admin API answered ${res.status}`);
      const snapshot = withRules((await res.json()) as StoredConfigSnapshot);
      if (!Number.isSafeInteger(snapshot?.version) || typeof snapshot.program !== 'object') {
        throw new Error('admin API sent a configuration without a version or program');
      }
      return engine.applyConfig(snapshot);
    } catch (err) {
      // Said once per outage, not once per poll.
      if (!failing) console.warn(`kopilka: cannot reach the admin API (${(err as Error).message}); serving configuration version ${engine.config?.version ?? 'none'}`);
      failing = true;
      return false;
    }
  }

  const loop = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void pollNow().finally(loop), opts.intervalMs ?? config_poll_interval_ms_default);
    timer.unref();
  };
  loop();
  return {
    pollNow,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
