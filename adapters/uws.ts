// uWebSockets.js, and proof that its native binary is what runs. The package
// silently falls back to a slow JavaScript implementation when the binary does not
// load; kopilka refuses to pretend: `uwsIsNative()` tells, and a test holds it.

import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);
export const uWS = require('uWebSockets.js') as typeof UWS;

export function uwsIsNative(): boolean {
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return Object.keys(require.cache).some((path) => path.endsWith(binary)) && typeof uWS.App === 'function';
}
