import { findAgent } from '../db/agents.js';
import type { Endpoint } from '../db/schema.js';
import { AppError, notFound } from '../errors.js';
import type { AppContext, AppDeps, AuthContext } from './context.js';
import { authOf } from './middleware/auth.js';
import { resourceId } from './validate.js';

/**
 * Who may see and do what: every router asks here instead of re-deciding (or importing the
 * decision from another router).
 */

/** An agent-scoped key sees its own agent only; any other id behaves as if it did not exist. */
export function canSeeAgent(auth: Pick<AuthContext, 'agentId'>, agentId: string): boolean {
  return auth.agentId === null || auth.agentId === agentId;
}

/** An agent-scoped key manages only endpoints scoped to exactly its agent. */
export function canManageEndpoint(auth: Pick<AuthContext, 'agentId'>, endpoint: Pick<Endpoint, 'agent_ids'>): boolean {
  return !auth.agentId || (endpoint.agent_ids.length === 1 && endpoint.agent_ids[0] === auth.agentId);
}

/**
 * A credential can hand out (to a new key or a portal session) at most the scopes it holds
 * itself: 403 naming the ones beyond them.
 */
export function assertGrantableScopes(held: readonly string[], requested: readonly string[]): void {
  const beyond = requested.filter((s) => !held.includes(s));
  if (beyond.length) throw new AppError(403, 'FORBIDDEN', `A key cannot grant scopes it does not hold: ${beyond.join(', ')}`);
}

/** The operator-token compare (ADMIN_TOKEN, METRICS_TOKEN) lives beside the admin middleware. */
export { operatorTokenMatches } from './route.js';

/** The caller's live agent by path id; anything it may not see is simply not found. */
export async function agentInScope(deps: Pick<AppDeps, 'db'>, ctx: AppContext, rawId: string | undefined) {
  const auth = authOf(ctx);
  const id = resourceId(rawId, 'Agent');
  const agent = canSeeAgent(auth, id) ? await findAgent(deps.db, auth.orgId, id) : undefined;
  if (!agent) throw notFound('Agent');
  return agent;
}
