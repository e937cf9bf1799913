import type { Kysely, Transaction } from 'kysely';
import type { Database, Message } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * A conversation's messages, oldest first (a run's user message before its reply), served by
 * messages_conversation_idx. Not paginated: the conversation answers with all of them.
 */
export async function listConversationMessages(db: Db, conversationId: string): Promise<Message[]> {
  return db
    .selectFrom('messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .orderBy('created_at')
    .orderBy('role', 'desc')
    .execute();
}
