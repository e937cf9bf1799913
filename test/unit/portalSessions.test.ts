import { describe, expect, it } from 'vitest';
import { hashSecret, looksLikeApiKey, SCOPES } from '../../src/domain/apiKeys.js';
import {
  generatePortalLinkToken,
  generatePortalSessionToken,
  looksLikePortalLinkToken,
  looksLikePortalSessionToken,
  PORTAL_SESSION_SCOPES,
} from '../../src/domain/portalSessions.js';

describe('portal sessions', () => {
  it('may hold every scope except the two that mint credentials', () => {
    expect(SCOPES).toContain('portal:write');
    expect([...PORTAL_SESSION_SCOPES].sort()).toEqual(SCOPES.filter((s) => s !== 'keys:write' && s !== 'portal:write').sort());
  });

  it('use link and session tokens of 256 random bits, told apart by prefix and stored by hash', () => {
    const link = generatePortalLinkToken();
    const session = generatePortalSessionToken();
    expect(link.token).toMatch(/^apl_[0-9a-f]{64}$/);
    expect(session.token).toMatch(/^aps_[0-9a-f]{64}$/);
    expect(link.hash).toBe(hashSecret(link.token));
    expect(session.prefix).toBe(session.token.slice(4, 12));
    // Each kind is accepted only where it belongs.
    expect([looksLikePortalLinkToken(link.token), looksLikePortalSessionToken(link.token), looksLikeApiKey(link.token)]).toEqual([true, false, false]);
    expect([looksLikePortalLinkToken(session.token), looksLikePortalSessionToken(session.token), looksLikeApiKey(session.token)]).toEqual([false, true, false]);
    expect(new Set(Array.from({ length: 500 }, () => generatePortalSessionToken().token)).size).toBe(500);
  });
});
