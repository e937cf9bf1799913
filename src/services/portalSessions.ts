import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { publicUrl, type Config } from '../config.js';
import { deleteEndedPortalSessions, insertPortalSession } from '../db/portalSessions.js';
import type { Database, PortalSession } from '../db/schema.js';
import { generatePortalLinkToken, PORTAL_DEFAULTS, type PortalSessionScope } from '../domain/portalSessions.js';

export interface IssuedPortalSession {
  row: PortalSession;
  /** `<PUBLIC_URL>/console/#portal=<link token>`: shown once; the fragment never reaches a server log. */
  url: string;
}

/** How long an ended session stays in the list before the org's next issue deletes it. */
export const ENDED_SESSION_RETENTION_MS = 30 * 24 * 3600 * 1000;

/**
 * Issues a portal session and its single-use link. Embedders typically issue a link per page
 * view, so each issue also deletes the org's sessions that ended over 30 days ago. The caller has already checked that the
 * org and agent exist and that the scopes are no broader than its own. The session's lifetime
 * runs from now, and the link never outlives the session.
 */
export async function issuePortalSession(
  db: Kysely<Database>,
  config: Config,
  input: {
    orgId: string;
    agentId: string | null;
    name: string;
    scopes: readonly PortalSessionScope[];
    expiresInSeconds?: number;
    linkTtlSeconds?: number;
    createdBy: string;
  },
  now: Date,
): Promise<IssuedPortalSession> {
  const expiresAt = new Date(now.getTime() + (input.expiresInSeconds ?? PORTAL_DEFAULTS.sessionSeconds) * 1000);
  const linkExpiresAt = new Date(Math.min(now.getTime() + (input.linkTtlSeconds ?? PORTAL_DEFAULTS.linkSeconds) * 1000, expiresAt.getTime()));
  const link = generatePortalLinkToken();
  await deleteEndedPortalSessions(db, input.orgId, new Date(now.getTime() - ENDED_SESSION_RETENTION_MS));
  const row = await insertPortalSession(db, {
    id: randomUUID(),
    orgId: input.orgId,
    agentId: input.agentId,
    name: input.name,
    scopes: input.scopes,
    linkHash: link.hash,
    linkExpiresAt,
    expiresAt,
    createdBy: input.createdBy,
  });
  return { row, url: `${publicUrl(config)}/console/#portal=${link.token}` };
}
