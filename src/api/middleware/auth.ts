import type { Middleware } from 'koa';
import type { Kysely } from 'kysely';
import { findActiveApiKeyByHash, touchApiKey } from '../../db/queries.js';
import type { Database } from '../../db/schema.js';
import { findLiveStreamToken } from '../../db/streams.js';
import { hashSecret, looksLikeApiKey, type Scope } from '../../domain/apiKeys.js';
import { AppError } from '../../errors.js';
import type { AppContext, AppState, AuthContext } from '../context.js';

const unauthorized = () =>
  new AppError(401, 'UNAUTHORIZED', 'Missing or invalid API key: send Authorization: Bearer <api key>', undefined, {
    'WWW-Authenticate': 'Bearer',
  });

/**
 * Authenticates `Authorization: Bearer <key>` by the key's SHA-256 (a unique-index lookup:
 * no stored secret is compared in user-controlled time) and checks the route's scope.
 * Revocation is read on every request, so a revoked key fails on the very next one.
 */
export function requireApiKey(db: Kysely<Database>, scope: Scope, clock: () => Date, options: { streamToken?: boolean } = {}): Middleware<AppState> {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const streamToken = ctx.query.stream_token;
    if (options.streamToken && !header && streamToken !== undefined) {
      // Browsers' EventSource cannot send headers: a short-lived token minted for this one run
      // stands in for the key, and dies with it (the join reads revocation on every open).
      const token = typeof streamToken === 'string' ? await findLiveStreamToken(db, hashSecret(streamToken), clock()) : undefined;
      if (!token || token.run_id !== ctx.params.id) {
        throw new AppError(401, 'UNAUTHORIZED', 'Invalid or expired stream token: mint a new one with POST /v1/runs/{id}/stream-token');
      }
      ctx.state.auth = { orgId: token.org_id, keyId: token.key_id, keyName: token.key_name, agentId: token.agent_id, scopes: token.scopes };
      if (!token.scopes.includes(scope)) throw new AppError(403, 'FORBIDDEN', `This API key is missing required scope ${scope}`);
      return next();
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !looksLikeApiKey(match[1]!)) throw unauthorized();
    const key = await findActiveApiKeyByHash(db, hashSecret(match[1]!));
    if (!key) throw unauthorized();
    ctx.state.auth = { orgId: key.org_id, keyId: key.id, keyName: key.name, agentId: key.agent_id, scopes: key.scopes };
    if (!key.scopes.includes(scope)) {
      throw new AppError(403, 'FORBIDDEN', `This API key is missing required scope ${scope}`);
    }
    await touchApiKey(db, key.id, key.last_used_at, clock());
    return next();
  };
}

export function authOf(ctx: AppContext): AuthContext {
  if (!ctx.state.auth) throw new Error('route is missing requireApiKey');
  return ctx.state.auth;
}

/** An agent-scoped key sees its own agent only; any other id behaves as if it did not exist. */
export function canSeeAgent(auth: AuthContext, agentId: string): boolean {
  return auth.agentId === null || auth.agentId === agentId;
}
