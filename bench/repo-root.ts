// The repository root, found from this file's place, so the benchmark finds
// bench/echo.proto and bench/results/ whether it runs from dist/bench/ (compiled)
// or from bench/ (a TypeScript loader), and whatever the working directory is.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Levels walked up before giving up: dist/bench/x.js is two below the root. */
const levels_max = 4;

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i <= levels_max; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`no package.json with a bench/ folder above ${fileURLToPath(import.meta.url)}`);
}
