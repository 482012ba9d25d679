// The demo configuration `npm start` serves when no admin store has one yet, and
// the fixture tests build on: one organization, one outlet, one terminal, a bonus
// program accruing 5% of the money paid and paying at most 50% of a check.

import { createHash } from 'node:crypto';
import { emptyRules, type BonusProgramConfig, type ConfigSnapshot } from '../protocol/config.js';

export const DEMO_PROGRAM: BonusProgramConfig = {
  id: 'bonus',
  name: 'Demo bonus',
  accrualBp: 500,
  payMaxBp: 5000,
  pointValueMinor: 100,
};

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function demoSnapshot(terminalKey: string, version = 1, program: BonusProgramConfig = DEMO_PROGRAM): ConfigSnapshot {
  return {
    version,
    publishedAt: new Date(0).toISOString(),
    author: 'demo',
    organization: { id: 'demo', name: 'Demo Coffee', currency: 'RUB', timeZone: 'Europe/Moscow' },
    outlets: [{ id: 'outlet-1', name: 'Demo Coffee, Tverskaya 1' }],
    terminals: [{ id: 'terminal-1', outletId: 'outlet-1', keySha256: sha256Hex(terminalKey) }],
    program,
    rules: emptyRules(),
  };
}
