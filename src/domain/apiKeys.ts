import { createHash, randomBytes } from 'node:crypto';

/** Every permission an API key can carry; routes name the one they need. */
export const SCOPES = [
  'agents:read',
  'agents:write',
  'keys:read',
  'keys:write',
  'runs:read',
  'runs:write',
  'webhooks:read',
  'webhooks:write',
  'endpoints:read',
  'endpoints:write',
  'events:read',
  'credits:read',
  /** Issue, list and revoke portal sessions (links that open the console) for the key's org or agent. */
  'portal:write',
] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_PREFIX = 'awk_';

export interface GeneratedKey {
  /** Shown to the caller exactly once. */
  key: string;
  /** First 8 hex characters of the secret part, for lists. */
  prefix: string;
  /** What the database stores. */
  hash: string;
}

/** 32 random bytes as 64 hex characters behind a readable prefix (`awk_…`). */
export function generateApiKey(): GeneratedKey {
  const hex = randomBytes(32).toString('hex');
  const key = `${KEY_PREFIX}${hex}`;
  return { key, prefix: hex.slice(0, 8), hash: hashSecret(key) };
}

/**
 * SHA-256 of a high-entropy secret. Lookups go by this hash through a unique index, so no
 * stored secret is ever compared byte by byte with the presented one.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function looksLikeApiKey(value: string): boolean {
  return /^awk_[0-9a-f]{64}$/.test(value);
}
