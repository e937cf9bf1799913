import { sql } from 'kysely';
import { lastUsedIsCurrent, lastUsedStaleBefore } from '../domain/lastUsed.js';
import type { Db } from './executor.js';

/**
 * The one "last used" write of API keys, token URLs and triggers, kept to the minute
 * (src/domain/lastUsed.ts): no write at all when `last` (what the caller just read) is current,
 * and the WHERE keeps concurrent requests from writing twice.
 */
export async function stampLastUse(
  db: Db,
  stamp: { table: 'api_keys' | 'inbound_webhooks'; column: 'last_used_at' } | { table: 'triggers'; column: 'last_invoked_at' },
  row: { id: string; last: Date | null },
  now: Date,
): Promise<void> {
  if (lastUsedIsCurrent(row.last, now)) return;
  const column = sql.ref(stamp.column);
  await sql`update ${sql.table(stamp.table)} set ${column} = ${now} where id = ${row.id} and (${column} is null or ${column} < ${lastUsedStaleBefore(now)})`.execute(db);
}
