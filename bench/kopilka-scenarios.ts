// >>> THE PLACE WHERE KOPILKA'S OWN ROWS GO <<<
//
// Each entry starts what it needs (e.g. kopilka's server as a child process),
// drives it with a driver from this folder (runWsLoad, runHttpLoad,
// runGrpcUnaryLoad, runGrpcStreamLoad) for the `timing` it is given, stops it,
// and returns a BenchResult named like the entry. Name the ceiling it compares
// with from CEILING in ceilings.ts; the runner measures that ceiling right before
// it in the same run and prints ops/s as "% of ceiling". For a server's CPU per
// operation, wrap the timing hooks with a CpuWindow (process-cpu.ts) on its pid.
//
// Example, once a server exists:
//   { name: 'evaluate.ws', ceiling: CEILING.uwsWsEcho, run: async (timing) => {
//       const server = await startKopilka(); // yours
//       try {
//         const load = await runWsLoad({ ...timing, url: server.wsUrl, connections: 50, inflight: 32,
//           makeFrame: (conn, seq) => encodeEvaluate(conn, seq), replySeq: decodeSeq });
//         return toBenchResult('evaluate.ws', load);
//       } finally { await server.stop(); }
//   } }
//
// Empty until kopilka's doors exist: the benchmark never reports invented figures.

import type { Scenario } from './scenario.js';

export const kopilkaScenarios: Scenario[] = [];
