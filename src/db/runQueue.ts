import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Run } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Concurrency limits (an agent's and its org's max_concurrent_runs). The runs table is the
 * truth: a run holds a slot while it is `processing`, waits while `queued`, in arrival order
 * (created_at, or run_at for a delayed run; then id). Every admission decision for an org is taken under one transaction-scoped
 * advisory lock, so any number of API and worker processes admit exactly as one would; a slot
 * frees itself when its run ends (no lease to leak when a process dies).
 */
async function lockOrgAdmission(trx: Transaction<Database>, orgId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`run-admission:${orgId}`}, 0))`.execute(trx);
}

export interface RunLimits {
  agentMax: number | null;
  orgMax: number | null;
}

export async function runLimitsOf(db: Db, orgId: string, agentId: string): Promise<RunLimits> {
  const row = await db
    .selectFrom('agents')
    .innerJoin('orgs', 'orgs.id', 'agents.org_id')
    .select(['agents.max_concurrent_runs as agentMax', 'orgs.max_concurrent_runs as orgMax'])
    .where('agents.id', '=', agentId)
    .where('orgs.id', '=', orgId)
    .executeTakeFirst();
  return { agentMax: row?.agentMax ?? null, orgMax: row?.orgMax ?? null };
}

export const isLimited = (limits: RunLimits) => limits.agentMax !== null || limits.orgMax !== null;

/** Runs holding a slot: processing, or (`holding`) ended here but still finishing in their workflow. */
async function processingCounts(trx: Db, orgId: string, holding: string[]): Promise<Map<string, number>> {
  const rows = await trx
    .selectFrom('runs')
    .select(['agent_id', sql<string>`count(*)`.as('n')])
    .where('org_id', '=', orgId)
    .where((eb) => (holding.length ? eb.or([eb('status', '=', 'processing'), eb('id', 'in', holding)]) : eb('status', '=', 'processing')))
    .groupBy('agent_id')
    .execute();
  return new Map(rows.map((r) => [r.agent_id, Number(r.n)]));
}

const sum = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/**
 * For a new run under a limit: 'processing' when a slot is free and nobody it must not overtake
 * is queued, else 'queued'. Takes the org's admission lock for the rest of `trx`, so the run
 * inserted next in the same transaction is counted by the next decision.
 */
export async function initialRunStatus(
  trx: Transaction<Database>,
  orgId: string,
  agentId: string,
  limits: RunLimits,
  holding: string[],
): Promise<'processing' | 'queued'> {
  await lockOrgAdmission(trx, orgId);
  let ahead = trx.selectFrom('runs').select('id').where('org_id', '=', orgId).where('status', '=', 'queued');
  // Under an org cap every queued run of the org is ahead; under an agent limit only the agent's.
  if (limits.orgMax === null) ahead = ahead.where('agent_id', '=', agentId);
  if (await ahead.limit(1).executeTakeFirst()) return 'queued';
  const counts = await processingCounts(trx, orgId, holding);
  if (limits.agentMax !== null && (counts.get(agentId) ?? 0) >= limits.agentMax) return 'queued';
  if (limits.orgMax !== null && sum(counts) >= limits.orgMax) return 'queued';
  return 'processing';
}

/** A run accepted straight into a free slot: its admission time, on the database's clock like the queue's. */
export async function markAdmitted(trx: Transaction<Database>, runId: string): Promise<void> {
  await trx.updateTable('runs').set({ admitted_at: sql<Date>`clock_timestamp()` }).where('id', '=', runId).execute();
}

/**
 * A delayed run whose time has come: under a limit it joins the queue, placed by its run_at
 * (runs queued since it was accepted stay ahead of it); without one it simply starts. Does
 * nothing to a run that is no longer `scheduled` (cancelled, or a retry after the commit).
 */
export async function enqueueDueRun(db: Kysely<Database>, runId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom('runs').select(['org_id', 'agent_id', 'status']).where('id', '=', runId).executeTakeFirst();
    if (run?.status !== 'scheduled') return;
    await lockOrgAdmission(trx, run.org_id);
    const queued = isLimited(await runLimitsOf(trx, run.org_id, run.agent_id));
    await trx
      .updateTable('runs')
      .set(queued ? { status: 'queued', status_detail: 'waiting for a slot: the concurrency limit is reached' } : { status: 'processing', status_detail: null })
      .where('id', '=', runId)
      .where('status', '=', 'scheduled')
      .execute();
  });
}

export interface Admission {
  /** Runs moved from queued to processing now, in arrival order. */
  admitted: string[];
  /** The queued runs left, in order, with why each waits. */
  waiting: Array<{ id: string; position: number; detail: string }>;
}

const ADMISSION_WINDOW = 500;

/**
 * Admits as many of the org's queued runs as the limits allow, oldest first: a run whose agent
 * is full waits without holding up other agents' runs; once the org cap is reached nobody else
 * goes. `holding`: runs whose workflows still finish (src/services/runSlots.ts). admitted_at records the order slots were given in; started_at stays the workflow's own
 * (a run whose accepting API died before starting its workflow is still found by the reconciler).
 */
export async function admitQueuedRuns(db: Kysely<Database>, orgId: string, holding: string[]): Promise<Admission> {
  return db.transaction().execute(async (trx) => {
    await lockOrgAdmission(trx, orgId);
    const org = await trx.selectFrom('orgs').select('max_concurrent_runs').where('id', '=', orgId).executeTakeFirst();
    const orgMax = org?.max_concurrent_runs ?? null;
    const queued = await trx
      .selectFrom('runs')
      .innerJoin('agents', 'agents.id', 'runs.agent_id')
      .select(['runs.id', 'runs.agent_id', 'agents.max_concurrent_runs as agentMax'])
      .where('runs.org_id', '=', orgId)
      .where('runs.status', '=', 'queued')
      // Arrival order; a delayed run arrived at its run_at.
      .orderBy(sql`coalesce(runs.run_at, runs.created_at)`)
      .orderBy('runs.id')
      .limit(ADMISSION_WINDOW)
      .execute();
    const counts = await processingCounts(trx, orgId, holding);
    let total = sum(counts);
    const result: Admission = { admitted: [], waiting: [] };
    for (const run of queued) {
      const running = counts.get(run.agent_id) ?? 0;
      const agentFull = run.agentMax !== null && running >= run.agentMax;
      const orgFull = orgMax !== null && total >= orgMax;
      if (agentFull || orgFull) {
        const detail = agentFull
          ? `waiting for a slot: ${running} of this agent's ${run.agentMax} concurrent runs are processing`
          : `waiting for a slot: ${total} of the organization's ${orgMax} concurrent runs are processing`;
        result.waiting.push({ id: run.id, position: result.waiting.length + 1, detail });
        continue;
      }
      // clock_timestamp(): distinct, increasing times for the runs admitted in this transaction.
      await trx
        .updateTable('runs')
        .set({ status: 'processing', status_detail: null, admitted_at: sql<Date>`clock_timestamp()` })
        .where('id', '=', run.id)
        .where('status', '=', 'queued')
        .execute();
      counts.set(run.agent_id, running + 1);
      total++;
      result.admitted.push(run.id);
    }
    return result;
  });
}

/** Records why a queued run waits (only when it changed: polling writes nothing new). */
export async function setQueuedDetail(db: Db, runId: string, detail: string): Promise<void> {
  await db
    .updateTable('runs')
    .set({ status_detail: detail })
    .where('id', '=', runId)
    .where('status', '=', 'queued')
    .where(sql<boolean>`status_detail is distinct from ${detail}`)
    .execute();
}

/**
 * Ends a run that never left the queue (or, delayed, never joined it) as cancelled; false when
 * it is no longer waiting (it was admitted or ended meanwhile). The caller releases the hold in the same transaction.
 */
export async function cancelQueuedRunRow(trx: Transaction<Database>, run: Pick<Run, 'id'>, detail: string, now: Date): Promise<boolean> {
  const updated = await trx
    .updateTable('runs')
    .set({ status: 'cancelled', status_detail: detail, completed_at: now })
    .where('id', '=', run.id)
    // A delayed run cancelled as its time comes has not joined the queue yet.
    .where('status', 'in', ['queued', 'scheduled'])
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Sets (or clears, with null) the org-wide cap. */
export async function setOrgConcurrency(db: Db, orgId: string, max: number | null) {
  return db.updateTable('orgs').set({ max_concurrent_runs: max }).where('id', '=', orgId).returning(['id', 'name', 'max_concurrent_runs']).executeTakeFirst();
}
