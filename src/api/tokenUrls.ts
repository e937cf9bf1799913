import type { Config } from '../config.js';
import type { Db } from '../db/executor.js';
import { hitRateLimit } from '../db/rateLimit.js';
import { findLiveTrigger, touchTrigger, type Trigger } from '../db/triggers.js';
import { findLiveWebhookByTokenHash, touchWebhook, type InboundWebhook } from '../db/webhooks.js';
import { hashSecret } from '../domain/apiKeys.js';
import { AppError, notFound } from '../errors.js';
import { rateLimited } from '../metrics.js';
import type { AppContext, AppDeps } from './context.js';
import { TRIGGER_TOKEN_PREFIX } from './triggers/presenter.js';

/**
 * The token URLs (an agent's `/api/webhook/<whk_…>`, a trigger's `/api/triggers/<trg_…>`):
 * one lookup, one rate limit and one "last used" stamp for both kinds. The token is the whole
 * credential, so every way it can be wrong costs the same single indexed lookup and ends in
 * the same 404: the answer tells a prober nothing about which it was.
 */
interface TokenUrlTarget {
  id: string;
  org_id: string;
  rate_limit_per_minute: number;
}

export interface TokenUrlKind<T extends TokenUrlTarget> {
  /** The resource named in 404s and 429s. */
  what: 'Webhook' | 'Trigger';
  prefix: string;
  /** Rate-limit bucket namespace: `<bucket>:<id>`. */
  bucket: string;
  /** What one call is called in the 429 message. */
  calls: string;
  windowSeconds(config: Config): number;
  findLive(db: Db, tokenHash: string): Promise<T | undefined>;
  markUsed(db: Db, target: T, now: Date): Promise<void>;
}

export const webhookTokens: TokenUrlKind<InboundWebhook> = {
  what: 'Webhook',
  prefix: 'whk_',
  bucket: 'webhook',
  calls: 'calls',
  windowSeconds: (config) => config.WEBHOOK_RATE_WINDOW_SECONDS,
  findLive: findLiveWebhookByTokenHash,
  markUsed: touchWebhook,
};

export const triggerTokens: TokenUrlKind<Trigger> = {
  what: 'Trigger',
  prefix: TRIGGER_TOKEN_PREFIX,
  bucket: 'trigger',
  calls: 'invocations',
  windowSeconds: () => 60,
  findLive: (db, tokenHash) => findLiveTrigger(db, { tokenHash }),
  markUsed: touchTrigger,
};

/** The live target of a token, or 404; the request is logged under its org from here on. */
export async function findByToken<T extends TokenUrlTarget>(deps: Pick<AppDeps, 'db'>, ctx: AppContext, kind: TokenUrlKind<T>, token: string | undefined): Promise<T> {
  if (!token || !token.startsWith(kind.prefix) || token.length > 200) throw notFound(kind.what);
  return found(ctx, kind, await kind.findLive(deps.db, hashSecret(token)));
}

/** A looked-up target (by token or otherwise): 404 when absent, else tagged onto the request. */
export function found<T extends TokenUrlTarget>(ctx: AppContext, kind: Pick<TokenUrlKind<T>, 'what'>, target: T | undefined): T {
  if (!target) throw notFound(kind.what);
  ctx.state.orgId = target.org_id;
  return target;
}

/**
 * Counts a call against the target's per-window limit (shared by every API process) and
 * answers RateLimit-* headers; 429 with Retry-After once it is spent.
 */
export async function admitCall<T extends TokenUrlTarget>(deps: Pick<AppDeps, 'db' | 'config'>, ctx: AppContext, kind: TokenUrlKind<T>, target: T): Promise<void> {
  const windowSeconds = kind.windowSeconds(deps.config);
  const limit = await hitRateLimit(deps.db, `${kind.bucket}:${target.id}`, target.rate_limit_per_minute, windowSeconds);
  ctx.set({ 'RateLimit-Limit': String(limit.limit), 'RateLimit-Remaining': String(limit.remaining), 'RateLimit-Reset': String(limit.resetSeconds) });
  if (!limit.allowed) {
    rateLimited.inc();
    const window = windowSeconds === 60 ? 'minute' : `${windowSeconds} seconds`;
    throw new AppError(429, 'RATE_LIMITED', `At most ${limit.limit} ${kind.calls} per ${window} on this ${kind.what.toLowerCase()}`, undefined, {
      'Retry-After': String(limit.resetSeconds),
    });
  }
}

/** The target started a run: stamp its last use. */
export async function markUsed<T extends TokenUrlTarget>(deps: Pick<AppDeps, 'db' | 'clock'>, kind: TokenUrlKind<T>, target: T): Promise<void> {
  await kind.markUsed(deps.db, target, deps.clock());
}
