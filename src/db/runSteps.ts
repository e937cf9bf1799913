import { sql, type RawBuilder, type Transaction } from 'kysely';
import { compactEventData, compactRunEventPayload, RUN_EVENTS_CHANNEL, type NewEvent, type RunTexts } from './events.js';
import { newRowId } from './ids.js';
import type { Database, EventRow } from './schema.js';

/** What one bookkeeping step of a run writes besides its announcements. */
export interface RunStepWrites {
  /** Marks the run started (a delayed run leaves `scheduled`); a run started before is left as it is. */
  startedAt?: Date;
  /** Stores the reply of a run still processing; a run that ended before is left as it is. */
  reply?: { text: string; inputTokens: number; outputTokens: number; creditsUsed: number; actionsDropped: number; at: Date };
  /** The run's message in its conversation, once per (run, role); `touchAt` also moves the conversation's updated_at. */
  message?: { conversationId: string; role: 'user' | 'assistant'; content: string; touchAt?: Date };
}

export interface RunStreamEvent {
  type: string;
  dedupeKey: string;
  payload: unknown;
  at: Date;
}

/**
 * One bookkeeping step of a run in one statement, in the caller's transaction, which holds the
 * run's row lock (`lockRunForBookkeeping`, `lockRunForEvents`): the run's own writes, its
 * run-stream events and its customer events. Each part is idempotent as the separate writes
 * were (`markRunStarted`, `storeRunReply`, `insertRunMessage`, `touchConversation`,
 * `storeEvent`): run-stream events once per dedupe key with gapless sequences after the
 * run's last (this statement's snapshot follows the lock), customer events once per dedupe key,
 * compacted against the run's texts; NOTIFY on commit when a run-stream event is new.
 * Returns each customer event as emitted when new, undefined when stored before.
 */
export async function writeRunStep(
  trx: Transaction<Database>,
  runId: string,
  step: RunStepWrites & { stream: readonly RunStreamEvent[]; events: readonly NewEvent[]; texts: RunTexts },
): Promise<Array<EventRow | undefined>> {
  const ctes: RawBuilder<unknown>[] = [];
  if (step.startedAt) {
    ctes.push(sql`started as (
      update runs set started_at = ${step.startedAt}, status = case when status = 'scheduled' then 'processing' else status end
      where id = ${runId} and started_at is null)`);
  }
  if (step.reply) {
    const r = step.reply;
    ctes.push(sql`replied as (
      update runs set status = 'completed', result = ${r.text}, input_tokens = ${r.inputTokens}, output_tokens = ${r.outputTokens},
        credits_used = ${r.creditsUsed}, actions_dropped = ${r.actionsDropped}, completed_at = ${r.at}
      where id = ${runId} and status = 'processing')`);
  }
  if (step.message) {
    const m = step.message;
    ctes.push(sql`message as (
      insert into messages (id, conversation_id, run_id, role, content) values (${newRowId()}::uuid, ${m.conversationId}::uuid, ${runId}::uuid, ${m.role}, ${m.content})
      on conflict (run_id, role) do nothing)`);
    if (m.touchAt) ctes.push(sql`touched as (update conversations set updated_at = ${m.touchAt} where id = ${m.conversationId})`);
  }
  // The reply frame keeps the reply once, in the run row (compactRunEventPayload; listRunEvents puts it back).
  const payloadOf = (e: RunStreamEvent) => compactRunEventPayload(e.type, (e.payload ?? {}) as Record<string, unknown>, step.texts.result);
  const stream = step.stream.map((e, i) => sql`(${i}::int, ${e.type}::text, ${e.dedupeKey}::text, ${JSON.stringify(payloadOf(e))}::jsonb, ${e.at}::timestamptz)`);
  ctes.push(
    stream.length
      ? sql`appended as (
          insert into run_events (run_id, sequence, event_type, dedupe_key, payload, created_at)
          select ${runId}::uuid, coalesce((select max(sequence) from run_events where run_id = ${runId}), 0) + row_number() over (order by v.ord),
                 v.event_type, v.dedupe_key, v.payload, v.created_at
          from (values ${sql.join(stream)}) as v(ord, event_type, dedupe_key, payload, created_at)
          where not exists (select 1 from run_events e where e.run_id = ${runId} and e.dedupe_key = v.dedupe_key)
          returning 1)`
      : sql`appended as (select 1 where false)`,
  );
  const events = step.events.map(
    (e) =>
      sql`(${newRowId()}::uuid, ${e.orgId}::uuid, ${e.agentId}::uuid, ${e.runId}::uuid, ${e.type}::text, ${JSON.stringify(compactEventData(e.data, e, step.texts))}::jsonb, ${e.dedupeKey}::text, ${e.at}::timestamptz)`,
  );
  ctes.push(
    events.length
      ? sql`stored as (
          insert into events (id, org_id, agent_id, run_id, type, data, dedupe_key, created_at) values ${sql.join(events)}
          on conflict (dedupe_key) do nothing
          returning *)`
      : sql`stored as (select * from events where false)`,
  );
  const { rows } = await sql<EventRow & { notified: unknown }>`
    with ${sql.join(ctes)}
    select n.notified, stored.* from (select case when exists (select 1 from appended) then pg_notify(${RUN_EVENTS_CHANNEL}, ${runId}) end as notified) n
    left join stored on true`.execute(trx);
  const byKey = new Map(rows.filter((row) => row.id !== null).map((row) => [row.dedupe_key, row]));
  return step.events.map((event) => {
    const row = byKey.get(event.dedupeKey);
    if (!row) return undefined;
    const stored: Partial<typeof row> = { ...row, data: event.data };
    delete stored.notified;
    return stored as EventRow;
  });
}
