// kopilka's engine: guests as actors sharded over worker threads, state in LMDB.
//
//   const engine = Engine.open({ dataDir: './data', shards: 4 });
//   engine.applyConfig(snapshot);                       // from the admin API
//   engine.authorize(terminalKey, body.outlet);         // at the door
//   const result = await engine.execute('evaluate', validateEvaluate(body));
//   await engine.drain(); await engine.close();

export { Engine, type EngineOptions, cardShard } from './engine.js';
export { EngineMetrics, type Door } from './metrics.js';
export { checkTotal, decide } from './program.js';
