import { z } from 'zod';
import { PORTAL_DEFAULTS, PORTAL_SESSION_SCOPES } from '../../domain/portalSessions.js';
import { PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const PortalScopeSchema = z.enum(PORTAL_SESSION_SCOPES);

export const CreatePortalSessionBody = z
  .object({
    org_id: Uuid.optional().describe('The org the console opens for: required with the admin token; an API key issues for its own org only'),
    agent_id: Uuid.nullable().default(null).describe('Limit the console to one agent; null = the whole org (an agent-scoped key: its own agent)'),
    name: z.string().trim().min(1).max(100).default('Portal session').describe('Shown in lists and in /v1/me, e.g. the customer\'s name'),
    scopes: z
      .array(PortalScopeSchema)
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope')
      .describe('What the console may do: at most the issuing key\'s scopes; never keys:write or portal:write'),
    expires_in_seconds: z
      .number()
      .int()
      .min(1)
      .max(PORTAL_DEFAULTS.maxSessionSeconds)
      .default(PORTAL_DEFAULTS.sessionSeconds)
      .describe('Session lifetime from now, in seconds (default 3600, at most 7 days)'),
    link_ttl_seconds: z
      .number()
      .int()
      .min(1)
      .max(PORTAL_DEFAULTS.maxLinkSeconds)
      .default(PORTAL_DEFAULTS.linkSeconds)
      .describe('How long the single-use link can be opened, in seconds (default 300, at most 3600; never past the session)'),
  })
  .strict();

export const ListPortalSessionsQuery = PaginationQuery.extend({
  org_id: Uuid.optional().describe('Admin token: only this org\'s sessions (default: every org)'),
  agent_id: Uuid.optional().describe('Only sessions limited to this agent'),
});

export const PortalSessionSchema = z
  .object({
    id: Uuid,
    org_id: Uuid,
    agent_id: Uuid.nullable(),
    name: z.string(),
    scopes: z.array(PortalScopeSchema),
    status: z
      .enum(['pending', 'active', 'expired', 'revoked'])
      .describe('pending: link not yet opened; active: exchanged and valid; expired: link or session past its time; revoked'),
    created_by: z.string().describe('`admin`, `cli` or `api_key:<id>`: who issued the link'),
    created_at: Timestamp,
    link_expires_at: Timestamp,
    exchanged_at: Timestamp.nullable(),
    expires_at: Timestamp,
    revoked_at: Timestamp.nullable(),
  })
  .meta({ id: 'PortalSession' });

export const CreatedPortalSessionSchema = z
  .object({
    id: Uuid,
    url: z.string().describe('Opens the console: `<PUBLIC_URL>/console/#portal=<link token>`; single use, shown only in this response'),
    link_expires_at: Timestamp,
    expires_at: Timestamp,
    org_id: Uuid,
    agent_id: Uuid.nullable(),
    name: z.string(),
    scopes: z.array(PortalScopeSchema),
  })
  .meta({ id: 'CreatedPortalSession' });

export const ExchangePortalLinkBody = z
  .object({ token: z.string().max(200).describe('The link token: what follows `#portal=` in the URL') })
  .strict();

export const PortalSessionTokenSchema = z
  .object({
    id: Uuid,
    session_token: z.string().describe('Send as `Authorization: Bearer <session_token>`; shown only in this response'),
    expires_at: Timestamp,
    org_id: Uuid,
    agent_id: Uuid.nullable(),
    scopes: z.array(PortalScopeSchema),
  })
  .meta({ id: 'PortalSessionToken' });
