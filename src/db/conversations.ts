import { compiledOnce, type Db } from './executor.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Message } from './schema.js';

export type { Conversation, ConversationsTable, Message, MessagesTable } from './schema.js';

export interface NewConversationInput {
  id: string;
  orgId: string;
  agentId: string;
  subject: string | null;
  externalUserId: string | null;
  inboundWebhookId: string | null;
  now: Date;
}

/** The conversations row of a new conversation, inserted with its first run (src/db/runs.ts insertAcceptedRun). */
export function conversationRow(c: NewConversationInput) {
  return {
    id: c.id,
    org_id: c.orgId,
    agent_id: c.agentId,
    subject: c.subject,
    external_user_id: c.externalUserId,
    inbound_webhook_id: c.inboundWebhookId,
    updated_at: c.now,
  };
}


/** The org's conversation by id (the caller checks the agent). */
export async function findConversation(db: Db, orgId: string, id: string) {
  return db.selectFrom('conversations').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** Whether `id` is a conversation of this agent (and of this org, when given). */
export async function findConversationOfAgent(db: Db, c: { id: string; agentId: string; orgId?: string }) {
  let query = db.selectFrom('conversations').select('id').where('id', '=', c.id);
  if (c.orgId !== undefined) query = query.where('org_id', '=', c.orgId);
  return query.where('agent_id', '=', c.agentId).executeTakeFirst();
}

/** The latest conversation a token URL's caller-side user had, to continue it. */
export async function findLatestConversationOfUser(db: Db, inboundWebhookId: string, externalUserId: string) {
  return db
    .selectFrom('conversations')
    .select('id')
    .where('inbound_webhook_id', '=', inboundWebhookId)
    .where('external_user_id', '=', externalUserId)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * The conversation's latest `limit` messages, oldest first (what GET /v1/conversations/{id}
 * embeds), and whether older ones exist beyond them.
 */
export async function latestConversationMessages(db: Db, conversationId: string, limit: number) {
  const newest = await db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .orderBy('created_at', 'desc')
    .orderBy('role') // a run's reply after its user message (they may share created_at)
    .limit(limit + 1)
    .execute();
  return { messages: newest.slice(0, limit).reverse(), truncated: newest.length > limit };
}

/** Every message of the conversation, newest first, a keyset page at a time. */
export async function listConversationMessages(db: Db, conversationId: string, page: PageRequest): Promise<Page<Message>> {
  return keysetPage(db, db.selectFrom('messages').where('conversation_id', '=', conversationId), page);
}

/** The conversation's latest messages (newest first, at most `limit`), leaving out the run's own. */
export const conversationHistory = compiledOnce((db: Db, conversationId: string, excludeRunId: string, limit: number) =>
  db
    .selectFrom('messages')
    .select(['role', 'content'])
    .where('conversation_id', '=', conversationId)
    .where((eb) => eb.or([eb('run_id', 'is', null), eb('run_id', '!=', excludeRunId)]))
    .orderBy('created_at', 'desc')
    .limit(limit),
);

/** Whether the conversation had a message before this run's (it is new with this run otherwise). */
export async function conversationHadEarlierMessage(db: Db, conversationId: string, runId: string, before: Date): Promise<boolean> {
  const earlier = await db
    .selectFrom('messages')
    .select('id')
    .where('conversation_id', '=', conversationId)
    .where((eb) => eb.or([eb('run_id', 'is', null), eb('run_id', '!=', runId)]))
    .where('created_at', '<', before)
    .limit(1)
    .executeTakeFirst();
  return earlier !== undefined;
}

/** What a run's announcements name of its conversation. */
export async function findConversationLabels(db: Db, id: string) {
  return db.selectFrom('conversations').select(['subject', 'external_user_id']).where('id', '=', id).executeTakeFirst();
}

/** Stores a run's message (the user's or the reply) once: a retried activity adds nothing. */
export async function insertRunMessage(db: Db, m: { id: string; conversationId: string; runId: string; role: 'user' | 'assistant'; content: string }) {
  await db
    .insertInto('messages')
    .values({ id: m.id, conversation_id: m.conversationId, run_id: m.runId, role: m.role, content: m.content })
    .onConflict((oc) => oc.columns(['run_id', 'role']).doNothing())
    .execute();
}

export async function touchConversation(db: Db, id: string, now: Date) {
  await db.updateTable('conversations').set({ updated_at: now }).where('id', '=', id).execute();
}
