// Terminal credentials. A key is shown once, at creation; only its SHA-256 is
// stored and published, and the engine hashes the key a terminal presents to
// compare. A salt is not needed: the key is 256 random bits, not a password.

import { createHash, randomBytes } from 'node:crypto';
import { terminal_key_bytes } from './limits.js';

/** A fresh key: 32 random bytes, base64url (43 characters, safe in a header). */
export function newTerminalKey(): string {
  return randomBytes(terminal_key_bytes).toString('base64url');
}

/** Hex SHA-256 of the key's UTF-8 text, as the engine computes it. */
export function terminalKeySha256(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
