import { sql, type Kysely, type Transaction } from 'kysely';
import { RUN_EVENTS_CHANNEL } from './events.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database, NewRun, NewSchedule, Run, Schedule, ScheduleUpdate } from './schema.js';

/** Schedules (one Temporal Schedule each) and the run a refused firing leaves behind. */
type Db = Kysely<Database> | Transaction<Database>;

export async function insertSchedule(db: Db, schedule: NewSchedule) {
  return db.insertInto('schedules').values(schedule).returningAll().executeTakeFirstOrThrow();
}

/** Org-scoped: another tenant's schedule is not found. */
export async function findSchedule(db: Db, orgId: string, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db.selectFrom('schedules').selectAll().where('id', '=', id).where('org_id', '=', orgId);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** For a firing's workflow, which knows only the schedule id. */
export async function findScheduleById(db: Db, id: string) {
  return db.selectFrom('schedules').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listSchedules(db: Db, orgId: string, filter: { agentId: string }, page: PageRequest): Promise<Page<Schedule>> {
  const base = db.selectFrom('schedules').where('org_id', '=', orgId).where('agent_id', '=', filter.agentId);
  return keysetPage(db, base, page);
}

export async function updateSchedule(db: Db, id: string, patch: ScheduleUpdate) {
  return db.updateTable('schedules').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteSchedule(db: Db, id: string) {
  await db.deleteFrom('schedules').where('id', '=', id).execute();
}

/** The run a firing already created (its idempotency key), if any. */
export async function findFiringRun(db: Db, orgId: string, idempotencyKey: string) {
  return db.selectFrom('runs').selectAll().where('org_id', '=', orgId).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
}

/**
 * A firing the wallet could not cover: a run recorded as failed at once (no hold, no charge)
 * with its first event, so the customer sees the firing and its reason. The caller announces
 * it (run_failed, run.failed). A retry finds it by the firing's idempotency key (findFiringRun) first.
 */
export async function insertRefusedRun(db: Kysely<Database>, run: Omit<NewRun, 'status' | 'credits_held' | 'event_seq'> & { error: string; idempotency_key: string }): Promise<Run> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('runs')
      .values({ ...run, status: 'failed', status_detail: run.error, credits_held: 0, event_seq: 1, completed_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('run_events')
      .values({ run_id: inserted.id, sequence: 1, event_type: 'run_queued', dedupe_key: 'run_queued', payload: JSON.stringify({ status: 'failed' }) })
      .execute();
    await sql`select pg_notify(${RUN_EVENTS_CHANNEL}, ${inserted.id})`.execute(trx);
    return inserted;
  });
}

/** A live task definition of this agent (a schedule's task_definition_id is checked when written). */
export async function agentHasTask(db: Db, agentId: string, taskId: string): Promise<boolean> {
  const task = await db
    .selectFrom('task_definitions')
    .select('id')
    .where('id', '=', taskId)
    .where('agent_id', '=', agentId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Boolean(task);
}
