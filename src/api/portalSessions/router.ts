import { exchangePortalLink, findPortalSession, listPortalSessions, revokePortalSession } from '../../db/portalSessions.js';
import { findAgent } from '../../db/agents.js';
import { findOrg } from '../../db/orgs.js';
import { emptyPage } from '../../db/pagination.js';
import type { PortalSession } from '../../db/schema.js';
import { hashSecret } from '../../domain/apiKeys.js';
import { generatePortalSessionToken, looksLikePortalLinkToken, PORTAL_SESSION_SCOPES } from '../../domain/portalSessions.js';
import { AppError, invalid, notFound } from '../../errors.js';
import { issuePortalSession } from '../../services/portalSessions.js';
import type { AppContext, AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { assertGrantableScopes } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import {
  CreatePortalSessionBody,
  CreatedPortalSessionSchema,
  ExchangePortalLinkBody,
  ListPortalSessionsQuery,
  PortalSessionSchema,
  PortalSessionTokenSchema,
} from './schema.js';

type Scopes = (typeof PORTAL_SESSION_SCOPES)[number][];

/** Who may act on which sessions: the admin token on every org, a key on its own org (and agent). */
interface Issuer {
  orgId: string | null;
  agentId: string | null;
  scopes: readonly string[];
  createdBy: string;
}

function issuerOf(ctx: AppContext): Issuer {
  if (ctx.state.admin) return { orgId: null, agentId: null, scopes: PORTAL_SESSION_SCOPES, createdBy: 'admin' };
  const auth = authOf(ctx);
  return { orgId: auth.orgId, agentId: auth.agentId, scopes: auth.scopes, createdBy: `api_key:${auth.keyId}` };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function statusOf(s: PortalSession, now: Date): 'pending' | 'active' | 'expired' | 'revoked' {
  if (s.revoked_at) return 'revoked';
  if (s.expires_at <= now) return 'expired';
  if (s.exchanged_at) return 'active';
  return s.link_expires_at <= now ? 'expired' : 'pending';
}

function presentPortalSession(s: PortalSession, now: Date) {
  return {
    id: s.id,
    org_id: s.org_id,
    agent_id: s.agent_id,
    name: s.name,
    scopes: s.scopes as Scopes,
    status: statusOf(s, now),
    created_by: s.created_by,
    created_at: s.created_at.toISOString(),
    link_expires_at: s.link_expires_at.toISOString(),
    exchanged_at: iso(s.exchanged_at),
    expires_at: s.expires_at.toISOString(),
    revoked_at: iso(s.revoked_at),
  };
}

export function portalSessionRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Portal sessions';
  return [
    route({
      method: 'post',
      path: '/v1/portal-sessions',
      operationId: 'createPortalSession',
      summary: 'Issue a portal link that opens the console for one org or agent',
      description:
        'For operators who embed the console: the answer\'s `url` opens `/console` and is exchanged on first load for a session ' +
        '(POST /v1/portal-sessions/exchange) with exactly these scopes, limited to `agent_id` when given. The link works once and ' +
        'for `link_ttl_seconds`; the session ends at `expires_at` or when revoked. A key can grant at most its own scopes, for its ' +
        'own org (and, when agent-scoped, its own agent); `keys:write` and `portal:write` are never granted, as a credential minted ' +
        'from a session would outlive it.',
      tag,
      auth: { kind: 'adminOrApiKey', scope: 'portal:write' },
      body: CreatePortalSessionBody,
      responses: { 201: { description: 'The session, with its single-use link shown once', schema: CreatedPortalSessionSchema } },
      async handler(ctx, { body }) {
        const issuer = issuerOf(ctx);
        let orgId: string;
        if (issuer.orgId === null) {
          if (!body.org_id) throw invalid({ org_id: 'required with the admin token' });
          if (!(await findOrg(deps.db, body.org_id))) throw invalid({ org_id: 'no such organization' });
          orgId = body.org_id;
        } else {
          if (body.org_id && body.org_id !== issuer.orgId) {
            throw new AppError(403, 'FORBIDDEN', 'An API key issues portal sessions for its own organization only');
          }
          orgId = issuer.orgId;
        }
        if (issuer.agentId && body.agent_id && body.agent_id !== issuer.agentId) throw invalid({ agent_id: 'no such agent' });
        const agentId = issuer.agentId ?? body.agent_id;
        if (agentId && !(await findAgent(deps.db, orgId, agentId))) throw invalid({ agent_id: 'no such agent' });
        assertGrantableScopes(issuer.scopes, body.scopes);

        const { row, url } = await issuePortalSession(
          deps.db,
          deps.config,
          {
            orgId,
            agentId,
            name: body.name,
            scopes: body.scopes,
            expiresInSeconds: body.expires_in_seconds,
            linkTtlSeconds: body.link_ttl_seconds,
            createdBy: issuer.createdBy,
          },
          clock(),
        );
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = {
          id: row.id,
          url,
          link_expires_at: row.link_expires_at.toISOString(),
          expires_at: row.expires_at.toISOString(),
          org_id: row.org_id,
          agent_id: row.agent_id,
          name: row.name,
          scopes: row.scopes as Scopes,
        };
      },
    }),
    route({
      method: 'post',
      path: '/v1/portal-sessions/exchange',
      operationId: 'exchangePortalLink',
      summary: 'Exchange a portal link for a session token',
      description:
        'Public: the console calls this on first load with the token from its URL fragment. A link works once; an unknown, used, ' +
        'expired or revoked link gets the same 404, whichever it is. Tokens are 256 random bits looked up by their SHA-256.',
      tag,
      auth: { kind: 'public' },
      body: ExchangePortalLinkBody,
      errors: [404],
      responses: { 200: { description: 'The session token, shown once', schema: PortalSessionTokenSchema } },
      async handler(ctx, { body }) {
        const gone = () => new AppError(404, 'NOT_FOUND', 'Portal link not found: it is unknown, already used, expired or revoked');
        if (!looksLikePortalLinkToken(body.token)) throw gone();
        const session = generatePortalSessionToken();
        const row = await exchangePortalLink(deps.db, hashSecret(body.token), { hash: session.hash, prefix: session.prefix }, clock());
        if (!row) throw gone();
        ctx.state.orgId = row.org_id;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = {
          id: row.id,
          session_token: session.token,
          expires_at: row.expires_at.toISOString(),
          org_id: row.org_id,
          agent_id: row.agent_id,
          scopes: row.scopes as Scopes,
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/portal-sessions',
      operationId: 'listPortalSessions',
      summary: 'List portal sessions, newest first',
      description:
        'No link or session token is ever listed. The admin token sees every org (filter with `org_id`); a key sees its own org, ' +
        'an agent-scoped key its agent\'s sessions only.',
      tag,
      auth: { kind: 'adminOrApiKey', scope: 'portal:write' },
      query: ListPortalSessionsQuery,
      responses: { 200: { description: 'A page of portal sessions', schema: paginated(PortalSessionSchema) } },
      async handler(ctx, { query }) {
        const issuer = issuerOf(ctx);
        const empty = { data: [], pagination: emptyPage(pageRequest(query)) };
        if (issuer.orgId && query.org_id && query.org_id !== issuer.orgId) return void (ctx.body = empty);
        if (issuer.agentId && query.agent_id && query.agent_id !== issuer.agentId) return void (ctx.body = empty);
        const filter = { orgId: issuer.orgId ?? query.org_id ?? null, agentId: issuer.agentId ?? query.agent_id ?? null };
        const { rows, pagination } = await listPortalSessions(deps.db, filter, pageRequest(query));
        const now = clock();
        ctx.body = { data: rows.map((r) => presentPortalSession(r, now)), pagination };
      },
    }),
    route({
      method: 'delete',
      path: '/v1/portal-sessions/:id',
      operationId: 'revokePortalSession',
      summary: 'Revoke a portal session',
      description:
        'Ends the session (and its link, if still unused): the next request made with it gets 401. Revoking twice is harmless.',
      tag,
      auth: { kind: 'adminOrApiKey', scope: 'portal:write' },
      responses: { 204: { description: 'Revoked' } },
      async handler(ctx) {
        const issuer = issuerOf(ctx);
        const session = await findPortalSession(deps.db, issuer.orgId, resourceId(ctx.params.id, 'Portal session'));
        if (!session || (issuer.agentId && session.agent_id !== issuer.agentId)) throw notFound('Portal session');
        await revokePortalSession(deps.db, session.id, clock());
        ctx.status = 204;
      },
    }),
  ];
}
