// Metrics a shard thread keeps; the doors' thread asks for them over the shard's
// port and aggregates them with its own (prom-client's AggregatorRegistry).

import { getHeapStatistics } from 'node:v8';
import { Gauge, Histogram, Registry } from 'prom-client';

export interface ShardMetrics {
  registry: Registry;
  durableWrite: Histogram<'op'>;
  configVersion: Gauge<'shard'>;
  heapUsed: Gauge;
}

export function createShardMetrics(): ShardMetrics {
  const registry = new Registry();
  return {
    registry,
    durableWrite: new Histogram({
      name: 'kopilka_durable_write_seconds',
      help: 'Time from queuing a write in its shard to its batch being flushed to disk.',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1],
      registers: [registry],
    }),
    configVersion: new Gauge({
      name: 'kopilka_shard_config_version',
      help: 'Configuration version each shard decides with.',
      labelNames: ['shard'],
      registers: [registry],
      aggregator: 'max',
    }),
    heapUsed: new Gauge({
      name: 'kopilka_shard_heap_used_bytes',
      help: 'V8 heap used by the shard threads, summed (guest state lives in LMDB, not here).',
      registers: [registry],
      collect() {
        this.set(getHeapStatistics().used_heap_size);
      },
    }),
  };
}
