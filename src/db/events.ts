import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, EventLogMode, EventRow, RunEvent } from './schema.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import { newRowId } from './ids.js';

/** Marks stored data with values left out (events.data, run_events.payload): see compactEventData. */
const DERIVED_KEY = '$d';

/** Channel on which every stored run event is announced, payload = run id. */
export const RUN_EVENTS_CHANNEL = 'run_events';

/**
 * Locks the run's row for appending its events (src/db/runSteps.ts) in the caller's transaction:
 * the lock orders appenders, so sequences have no gaps (the row is locked, not written: no new
 * row version per event), and NOTIFY fires on commit for every API process's SSE streams. Also
 * says whether the run's org has any enabled endpoint (its events need a delivery look-up only
 * then). Throws when the run is gone.
 */
export async function lockRunForEvents(trx: Transaction<Database>, runId: string, orgId: string): Promise<EventAudience> {
  const row = await trx
    .selectFrom('runs')
    .select((eb) => [
      eb.exists(eb.selectFrom('endpoints').select('id').where('org_id', '=', orgId).where('enabled', '=', true).where('deleted_at', 'is', null)).as('any_endpoint'),
      eb.selectFrom('orgs').select('orgs.event_log').where('orgs.id', '=', orgId).as('event_log'),
    ])
    .where('id', '=', runId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return { anyEndpoint: Boolean(row.any_endpoint), eventLog: row.event_log ?? null };
}

/**
 * Who can read a run's customer events (issue 19: an event is stored only when someone can):
 * whether the org has an enabled endpoint, and its event_log setting (null: the operator's EVENT_LOG).
 */
export interface EventAudience {
  anyEndpoint: boolean;
  eventLog: EventLogMode | null;
}

/**
 * The sequence of the run's last event (0 when none). runs.event_seq is no longer advanced per
 * event (it stays at the run_queued event's 1): this is the source.
 */
export async function lastRunEventSequence(db: Kysely<Database> | Transaction<Database>, runId: string): Promise<number> {
  const last = await db.selectFrom('run_events').select('sequence').where('run_id', '=', runId).orderBy('sequence', 'desc').limit(1).executeTakeFirst();
  return last?.sequence ?? 0;
}

/**
 * The reply frame (agent_message, payload `{content}`) keeps the reply once, in the run row: its
 * payload is stored as `{"$d": "c"}` (content = the run's result) and put back by listRunEvents.
 * Only this frame type, which this code builds: other payloads (an agent's actions) are stored as given.
 */
const REPLY_FRAME = 'agent_message';
const RUN_RESULT_REF = { [DERIVED_KEY]: 'c' } as const;

export function compactRunEventPayload(type: string, payload: Record<string, unknown>, runResult: string | null | undefined): Record<string, unknown> {
  const keys = Object.keys(payload);
  if (type !== REPLY_FRAME || runResult == null || keys.length !== 1 || keys[0] !== 'content' || payload.content !== runResult) return payload;
  return RUN_RESULT_REF;
}

/** A run's stream after `afterSequence`, payloads as appended (a reply reference reads the run's result in the same statement). */
export async function listRunEvents(db: Kysely<Database>, runId: string, afterSequence: number): Promise<RunEvent[]> {
  return db
    .selectFrom('run_events')
    .select(['run_id', 'sequence', 'event_type', 'dedupe_key', 'created_at'])
    .select(
      // The scalar subquery is evaluated once per statement, and only when a row references the reply.
      sql<Record<string, unknown>>`case when event_type = ${REPLY_FRAME} and payload = ${JSON.stringify(RUN_RESULT_REF)}::jsonb
        then jsonb_build_object('content', (select r.result from runs r where r.id = ${runId}))
        else payload end`.as('payload'),
    )
    .where('run_id', '=', runId)
    .where('sequence', '>', afterSequence)
    .orderBy('sequence')
    .execute();
}

/**
 * How an event's data is stored: each text once, and nothing the row already holds. Values
 * equal to the row's run_id / agent_id (and agent.id), and texts equal to the run's message or
 * reply, are left out and named in `$d` (one letter each); `expandEvents` puts them back, so
 * readers (the event log, deliveries) see the data as emitted. Rows without `$d` are stored whole.
 */
const DERIVED = DERIVED_KEY;
/** Texts shorter than this are stored inline: looking up the run would cost more than it saves. */
const TEXT_REF_MIN_LENGTH = 48;

type EventData = Record<string, unknown>;
export type RunTexts = { message: string; result: string | null };

export function compactEventData(data: EventData, row: { runId: string | null; agentId: string | null }, run?: RunTexts): EventData {
  const out: EventData = { ...data };
  let codes = '';
  if (row.runId && out.run_id === row.runId) {
    delete out.run_id;
    codes += 'r';
  }
  if (row.agentId && out.agent_id === row.agentId) {
    delete out.agent_id;
    codes += 'a';
  }
  const agent = out.agent as EventData | undefined;
  if (row.agentId && agent && typeof agent === 'object' && !Array.isArray(agent) && agent.id === row.agentId) {
    const rest = { ...agent };
    delete rest.id;
    out.agent = rest;
    codes += 'i';
  }
  if (run && typeof out.content === 'string') {
    if (out.content === run.message) {
      delete out.content;
      codes += 'm';
    } else if (out.content === run.result) {
      delete out.content;
      codes += 'c';
    }
  }
  if (run && typeof out.result === 'string' && out.result === run.result) {
    delete out.result;
    codes += 'R';
  }
  if (!codes) return data;
  out[DERIVED] = codes;
  return out;
}

function expandData(row: Pick<EventRow, 'run_id' | 'agent_id' | 'data'>, run?: RunTexts): EventData {
  const stored = row.data;
  const codes = stored?.[DERIVED];
  if (typeof codes !== 'string') return stored;
  const data = { ...stored };
  delete data[DERIVED];
  const out: EventData = {};
  if (codes.includes('r')) out.run_id = row.run_id;
  for (const [key, value] of Object.entries(data)) {
    out[key] = key === 'agent' && codes.includes('i') ? { id: row.agent_id, ...(value as EventData) } : value;
  }
  if (codes.includes('a')) out.agent_id = row.agent_id;
  if (codes.includes('m')) out.content = run?.message ?? null;
  if (codes.includes('c')) out.content = run?.result ?? null;
  if (codes.includes('R')) out.result = run?.result ?? null;
  return out;
}

/** Events as emitted: their stored data expanded (one query for the runs whose texts they reference). */
export async function expandEvents(db: Kysely<Database> | Transaction<Database>, rows: EventRow[]): Promise<EventRow[]> {
  const needRun = (r: EventRow) => typeof r.data?.[DERIVED] === 'string' && /[mcR]/.test(r.data[DERIVED] as string) && r.run_id;
  const runIds = [...new Set(rows.filter(needRun).map((r) => r.run_id!))];
  const runs = new Map<string, RunTexts>();
  if (runIds.length) {
    for (const run of await db.selectFrom('runs').select(['id', 'message', 'result']).where('id', 'in', runIds).execute()) runs.set(run.id, run);
  }
  return rows.map((r) => ({ ...r, data: expandData(r, r.run_id ? runs.get(r.run_id) : undefined) }));
}

/** One event as emitted, by id. */
export async function findEventById(db: Kysely<Database> | Transaction<Database>, id: string): Promise<EventRow | undefined> {
  const row = await db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await expandEvents(db, [row]))[0] : undefined;
}

/**
 * Stores a customer-facing event once per dedupe key; returns it (data as emitted) and whether
 * it is new. Data is stored compact (compactEventData); a long text is referenced from its run.
 */
export async function storeEvent(
  db: Kysely<Database> | Transaction<Database>,
  event: { orgId: string; agentId: string | null; runId: string | null; type: string; data: Record<string, unknown>; dedupeKey: string; at: Date },
): Promise<{ event: EventRow; created: boolean }> {
  const longText = [event.data.content, event.data.result].some((t) => typeof t === 'string' && t.length >= TEXT_REF_MIN_LENGTH);
  const run = event.runId && longText ? await db.selectFrom('runs').select(['message', 'result']).where('id', '=', event.runId).executeTakeFirst() : undefined;
  const inserted = await db
    .insertInto('events')
    .values({
      id: newRowId(),
      org_id: event.orgId,
      agent_id: event.agentId,
      run_id: event.runId,
      type: event.type,
      data: JSON.stringify(compactEventData(event.data, event, run)),
      dedupe_key: event.dedupeKey,
      created_at: event.at,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { event: { ...inserted, data: event.data }, created: true };
  const existing = await db.selectFrom('events').selectAll().where('dedupe_key', '=', event.dedupeKey).executeTakeFirstOrThrow();
  return { event: (await expandEvents(db, [existing]))[0]!, created: false };
}



export interface NewEvent {
  orgId: string;
  agentId: string | null;
  runId: string | null;
  type: string;
  data: Record<string, unknown>;
  dedupeKey: string;
  at: Date;
}

/** Customer events by dedupe key, as emitted (a retried step's events stored by an earlier attempt). */
export async function findEventsByDedupeKeys(db: Kysely<Database> | Transaction<Database>, keys: readonly string[]): Promise<EventRow[]> {
  if (!keys.length) return [];
  const rows = await db.selectFrom('events').selectAll().where('dedupe_key', 'in', [...keys]).execute();
  return expandEvents(db, rows);
}

/** A run's customer events, as emitted, oldest first (a retried step re-announcing what an earlier attempt stored). */
export async function findRunCustomerEvents(db: Kysely<Database> | Transaction<Database>, runId: string): Promise<EventRow[]> {
  const rows = await db.selectFrom('events').selectAll().where('run_id', '=', runId).orderBy('created_at').orderBy('id').execute();
  return expandEvents(db, rows);
}

/** The org's event by id. */
export async function findEvent(db: Kysely<Database> | Transaction<Database>, orgId: string, id: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** A customer event by its dedupe key (e.g. a run's low-balance crossing, looked up on a retry). */
export async function findEventByDedupeKey(db: Kysely<Database> | Transaction<Database>, dedupeKey: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('dedupe_key', '=', dedupeKey).executeTakeFirst();
}

export interface EventFilter {
  agentId?: string | null;
  type?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

/** An org's customer events, newest first (indexes per filter in migration 20261201T0200_list_indexes). */
export async function listEvents(db: Kysely<Database> | Transaction<Database>, orgId: string, filter: EventFilter, page: PageRequest): Promise<Page<EventRow>> {
  let base = db.selectFrom('events').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  if (filter.type) base = base.where('type', '=', filter.type);
  if (filter.createdAfter) base = base.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) base = base.where('created_at', '<', filter.createdBefore);
  return keysetPage(db, base, page);
}
