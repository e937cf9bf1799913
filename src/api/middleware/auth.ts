import type { Middleware } from 'koa';
import type { Kysely } from 'kysely';
import { findActivePortalSessionByHash } from '../../db/portalSessions.js';
import { findActiveApiKeyByHash, touchApiKey } from '../../db/apiKeys.js';
import type { Database } from '../../db/schema.js';
import { findLiveStreamToken, revokedKeyIds } from '../../db/streams.js';
import { hashSecret, looksLikeApiKey, type Scope } from '../../domain/apiKeys.js';
import { looksLikePortalSessionToken } from '../../domain/portalSessions.js';
import { AppError } from '../../errors.js';
import type { AppContext, AppState, AuthContext } from '../context.js';

const unauthorized = () =>
  new AppError(401, 'UNAUTHORIZED', 'Missing or invalid API key: send Authorization: Bearer <api key>', undefined, {
    'WWW-Authenticate': 'Bearer',
  });

export const bearerOf = (ctx: AppContext): string | undefined => /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'))?.[1];

/**
 * The one place that decides whether a presented credential is valid now: an API key that is
 * not revoked, or a portal session that is neither revoked nor expired. Looked up by SHA-256
 * through a unique index, so no stored secret is compared in user-controlled time.
 */
export async function authenticateBearer(db: Kysely<Database>, bearer: string, now: Date): Promise<AuthContext | null> {
  if (looksLikeApiKey(bearer)) {
    const key = await findActiveApiKeyByHash(db, hashSecret(bearer));
    if (!key) return null;
    await touchApiKey(db, key.id, key.last_used_at, now);
    return {
      kind: 'api_key', orgId: key.org_id, keyId: key.id, keyName: key.name, keyPrefix: key.prefix,
      agentId: key.agent_id, scopes: key.scopes, expiresAt: null,
    };
  }
  if (looksLikePortalSessionToken(bearer)) {
    const session = await findActivePortalSessionByHash(db, hashSecret(bearer), now);
    if (!session) return null;
    return {
      kind: 'portal_session', orgId: session.org_id, keyId: session.id, keyName: session.name, keyPrefix: null,
      agentId: session.agent_id, scopes: session.scopes, expiresAt: session.expires_at,
    };
  }
  return null;
}

/**
 * Whether an already authenticated credential is still valid (long-lived requests such as
 * event streams re-check with this): revocation and, for portal sessions, expiry.
 */
export async function isCredentialActive(db: Kysely<Database>, auth: AuthContext, now: Date): Promise<boolean> {
  // One definition of "still valid" for single checks and for the event streams' batch check.
  return !(await revokedKeyIds(db, [auth.keyId], now)).has(auth.keyId);
}

/**
 * Authenticates `Authorization: Bearer <key or portal session>` and checks the route's scope
 * (null: any valid credential). Revocation and expiry are read on every request, so a revoked
 * key or session fails on the very next one.
 */
export function requireApiKey(
  db: Kysely<Database>,
  scope: Scope | null,
  clock: () => Date,
  options: { streamToken?: boolean } = {},
): Middleware<AppState> {
  return async (ctx, next) => {
    const bearer = bearerOf(ctx);
    const streamToken = ctx.query.stream_token;
    if (options.streamToken && !ctx.get('authorization') && streamToken !== undefined) {
      // Browsers' EventSource cannot send headers: a short-lived token minted for this one run
      // stands in for the key, and dies with it (the join reads revocation on every open).
      const token = typeof streamToken === 'string' ? await findLiveStreamToken(db, hashSecret(streamToken), clock()) : undefined;
      if (!token || token.run_id !== ctx.params.id) {
        throw new AppError(401, 'UNAUTHORIZED', 'Invalid or expired stream token: mint a new one with POST /v1/runs/{id}/stream-token');
      }
      ctx.state.auth = {
        kind: 'api_key', orgId: token.org_id, keyId: token.key_id, keyName: token.key_name, keyPrefix: null,
        agentId: token.agent_id, scopes: token.scopes, expiresAt: null,
      };
      if (scope && !token.scopes.includes(scope)) throw new AppError(403, 'FORBIDDEN', `This API key is missing required scope ${scope}`);
      return next();
    }
    const auth = bearer ? await authenticateBearer(db, bearer, clock()) : null;
    if (!auth) throw unauthorized();
    ctx.state.auth = auth;
    if (scope && !auth.scopes.includes(scope)) {
      throw new AppError(403, 'FORBIDDEN', `This ${auth.kind === 'api_key' ? 'API key' : 'portal session'} is missing required scope ${scope}`);
    }
    return next();
  };
}

export function authOf(ctx: AppContext): AuthContext {
  if (!ctx.state.auth) throw new Error('route is missing requireApiKey');
  return ctx.state.auth;
}

/** Moved to the policies module; re-exported for callers not yet switched over. */
export { canSeeAgent } from '../policies.js';
