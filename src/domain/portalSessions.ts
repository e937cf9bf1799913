import { randomBytes } from 'node:crypto';
import { hashSecret, SCOPES, type Scope } from './apiKeys.js';

/**
 * Scopes a portal session may carry: every scope but the two that mint credentials. A session
 * is bounded in time and revocable; a key it minted (`keys:write`) or a session it issued
 * (`portal:write`) would outlive both, turning a one-hour link into a lasting credential.
 */
export const PORTAL_SESSION_SCOPES = SCOPES.filter((s) => s !== 'keys:write' && s !== 'portal:write') as Exclude<
  Scope,
  'keys:write' | 'portal:write'
>[];
export type PortalSessionScope = (typeof PORTAL_SESSION_SCOPES)[number];

export const PORTAL_LINK_PREFIX = 'apl_';
export const PORTAL_SESSION_PREFIX = 'aps_';

export const PORTAL_DEFAULTS = {
  sessionSeconds: 3600,
  maxSessionSeconds: 7 * 24 * 3600,
  linkSeconds: 300,
  maxLinkSeconds: 3600,
} as const;

export interface GeneratedToken {
  /** Shown to the caller exactly once. */
  token: string;
  /** First 8 hex characters of the secret part, for lists. */
  prefix: string;
  /** What the database stores. */
  hash: string;
}

function generate(prefix: string): GeneratedToken {
  const hex = randomBytes(32).toString('hex');
  const token = `${prefix}${hex}`;
  return { token, prefix: hex.slice(0, 8), hash: hashSecret(token) };
}

/** The single-use link token carried in the console URL's fragment (`#portal=apl_…`). */
export const generatePortalLinkToken = () => generate(PORTAL_LINK_PREFIX);
/** The session token the console sends as `Authorization: Bearer aps_…`. */
export const generatePortalSessionToken = () => generate(PORTAL_SESSION_PREFIX);

export const looksLikePortalLinkToken = (value: string) => /^apl_[0-9a-f]{64}$/.test(value);
export const looksLikePortalSessionToken = (value: string) => /^aps_[0-9a-f]{64}$/.test(value);
