import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database, PortalSession } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertPortalSession(
  db: Db,
  s: {
    id: string;
    orgId: string;
    agentId: string | null;
    name: string;
    scopes: readonly string[];
    linkHash: string;
    linkExpiresAt: Date;
    expiresAt: Date;
    createdBy: string;
  },
): Promise<PortalSession> {
  return db
    .insertInto('portal_sessions')
    .values({
      id: s.id,
      org_id: s.orgId,
      agent_id: s.agentId,
      name: s.name,
      scopes: [...s.scopes],
      link_hash: s.linkHash,
      link_expires_at: s.linkExpiresAt,
      expires_at: s.expiresAt,
      created_by: s.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Spends a link: one UPDATE that matches only an unused, unexpired, unrevoked link, so two
 * concurrent exchanges of the same link cannot both win. Undefined for any other link.
 */
export async function exchangePortalLink(
  db: Db,
  linkHash: string,
  session: { hash: string; prefix: string },
  now: Date,
): Promise<PortalSession | undefined> {
  return db
    .updateTable('portal_sessions')
    .set({ session_hash: session.hash, session_prefix: session.prefix, exchanged_at: now })
    .where('link_hash', '=', linkHash)
    .where('exchanged_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('link_expires_at', '>', now)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
}

/** The session a token names, if it is neither revoked nor expired at `now`. */
export async function findActivePortalSessionByHash(db: Db, sessionHash: string, now: Date): Promise<PortalSession | undefined> {
  return db
    .selectFrom('portal_sessions')
    .selectAll()
    .where('session_hash', '=', sessionHash)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
}

/** `orgId` null = every org (the operator's admin token). */
export async function listPortalSessions(db: Db, filter: { orgId: string | null; agentId: string | null }, page: PageRequest): Promise<Page<PortalSession>> {
  let base = db.selectFrom('portal_sessions');
  if (filter.orgId) base = base.where('org_id', '=', filter.orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  return keysetPage(db, base, page);
}

/** `orgId` null = any org (the operator's admin token). */
export async function findPortalSession(db: Db, orgId: string | null, id: string): Promise<PortalSession | undefined> {
  let query = db.selectFrom('portal_sessions').selectAll().where('id', '=', id);
  if (orgId) query = query.where('org_id', '=', orgId);
  return query.executeTakeFirst();
}

/** Idempotent: revoking twice keeps the first revocation time. Ends an unused link too. */
export async function revokePortalSession(db: Db, id: string, now: Date): Promise<void> {
  await db.updateTable('portal_sessions').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
}

/** Sessions of an org that ended (expired or revoked) before `before`: kept for the list until then, then deleted. */
export async function deleteEndedPortalSessions(db: Db, orgId: string, before: Date): Promise<void> {
  await db
    .deleteFrom('portal_sessions')
    .where('org_id', '=', orgId)
    .where((eb) => eb.or([eb('expires_at', '<', before), eb('revoked_at', '<', before)]))
    .execute();
}
