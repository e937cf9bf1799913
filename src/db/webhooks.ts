import type { Insertable, Updateable } from 'kysely';
import { compiledOnce, type Db } from './executor.js';
import { stampLastUse } from './lastUse.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { InboundWebhook, InboundWebhooksTable } from './schema.js';

export type { InboundWebhook, InboundWebhooksTable } from './schema.js';

/** A token URL that can start runs now: active, not deleted, its agent not deleted. One indexed lookup. */
export async function findLiveWebhookByTokenHash(db: Db, tokenHash: string): Promise<InboundWebhook | undefined> {
  return (await liveWebhookByTokenHash(db, tokenHash))[0];
}

const liveWebhookByTokenHash = compiledOnce((db: Db, tokenHash: string) =>
  db
    .selectFrom('inbound_webhooks')
    .innerJoin('agents', 'agents.id', 'inbound_webhooks.agent_id')
    .selectAll('inbound_webhooks')
    .where('inbound_webhooks.token_hash', '=', tokenHash)
    .where('inbound_webhooks.is_active', '=', true)
    .where('inbound_webhooks.deleted_at', 'is', null)
    .where('agents.deleted_at', 'is', null),
);

/** The org's webhook, unless deleted (the caller checks the agent). */
export async function findWebhook(db: Db, orgId: string, id: string) {
  return db
    .selectFrom('inbound_webhooks')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function insertWebhook(db: Db, webhook: Insertable<InboundWebhooksTable>) {
  return db.insertInto('inbound_webhooks').values(webhook).returningAll().executeTakeFirstOrThrow();
}

export async function updateWebhook(db: Db, id: string, set: Updateable<InboundWebhooksTable>) {
  return db.updateTable('inbound_webhooks').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** A token URL started a run: its stamp, to the minute as an API key's (src/domain/lastUsed.ts). */
export async function touchWebhook(db: Db, webhook: { id: string; last_used_at: Date | null }, now: Date) {
  await stampLastUse(db, { table: 'inbound_webhooks', column: 'last_used_at' }, { id: webhook.id, last: webhook.last_used_at }, now);
}

/** An agent's live inbound webhooks, newest first. */
export async function listWebhooks(db: Db, agentId: string, page: PageRequest): Promise<Page<InboundWebhook>> {
  const base = db.selectFrom('inbound_webhooks').where('agent_id', '=', agentId).where('deleted_at', 'is', null);
  return keysetPage(db, base, page);
}
