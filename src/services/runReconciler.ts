import type { Client } from '@temporalio/client';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { startRunWorkflow } from './runs.js';

/**
 * Every accepted run starts. An API process killed (or cut from the database or Temporal)
 * between committing a run and starting its workflow leaves a run `processing` with no
 * workflow; this sweep finds such runs (never started, older than the API's own start
 * deadline) and starts their deterministic `run-<id>` workflow. A run whose workflow already
 * exists is left as it is. Runs in every worker process; a Postgres advisory lock makes one
 * of them sweep at a time, and the lock dies with its connection if the process does.
 */
export interface ReconcilerDeps {
  db: Kysely<Database>;
  temporal: Client;
  taskQueue: string;
  log: Logger;
}

/** Arbitrary, fixed: the advisory-lock key of the run sweep ("aw runs" in ASCII). */
const SWEEP_LOCK_KEY = 0x6177_7275;
const BATCH = 100;

export interface Sweep {
  /** Runs whose workflow this sweep started. */
  started: string[];
  /** Every run created up to here was examined (started now or found started): the next sweep begins after it. */
  examinedUpTo: Date;
}

/**
 * One sweep over runs created after `since`. Returns null when another process holds the
 * sweep. A run found started is not asked about again by a caller that keeps `examinedUpTo`,
 * so a backlog of runs waiting for busy workers costs one Temporal call each, not one per sweep.
 */
export async function reconcileUnstartedRuns(deps: ReconcilerDeps, minAgeMs: number, since = new Date(0)): Promise<Sweep | null> {
  return deps.db.connection().execute(async (conn) => {
    const lock = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${SWEEP_LOCK_KEY}) as locked`.execute(conn);
    if (!lock.rows[0]?.locked) return null;
    try {
      const stale = await conn
        .selectFrom('runs')
        .select(['id', 'org_id', 'agent_id', 'source', 'status', 'created_at'])
        // A queued run's workflow waits for its slot: it must exist as much as a processing run's.
        .where('status', 'in', ['processing', 'queued'])
        .where('started_at', 'is', null)
        .where('created_at', '>', since)
        .where('created_at', '<', new Date(Date.now() - minAgeMs))
        .orderBy('created_at')
        .limit(BATCH)
        .execute();
      const sweep: Sweep = { started: [], examinedUpTo: since };
      for (const run of stale) {
        try {
          if (await startRunWorkflow({ ...deps, db: conn }, run)) {
            sweep.started.push(run.id);
            deps.log.warn({ run_id: run.id, org_id: run.org_id }, 'started the workflow of a run accepted but never started');
          }
        } catch (err) {
          // Not examined: the next sweep starts from here again.
          deps.log.error({ err, run_id: run.id }, 'could not start the workflow of an unstarted run; next sweep retries');
          break;
        }
        sweep.examinedUpTo = run.created_at;
      }
      return sweep;
    } finally {
      await sql`select pg_advisory_unlock(${SWEEP_LOCK_KEY})`.execute(conn);
    }
  });
}

/** Sweeps every `intervalMs` until stopped; an interval of 0 turns it off. */
export function startRunReconciler(deps: ReconcilerDeps, options: { intervalMs: number; minAgeMs: number }): { stop(): Promise<void> } {
  if (options.intervalMs <= 0) return { stop: async () => undefined };
  let stopped = false;
  let running = false;
  // Runs created before this were examined by this process (another process's sweep may have
  // advanced further; re-asking Temporal about a started run is harmless, only wasted).
  let since = new Date(0);
  let current: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped || running) return; // a slow sweep is not queued behind by the next tick
    running = true;
    current = reconcileUnstartedRuns(deps, options.minAgeMs, since)
      .then((sweep) => {
        if (sweep) since = sweep.examinedUpTo;
      })
      .catch((err) => deps.log.warn({ err }, 'run sweep failed; next interval retries'))
      .finally(() => {
        running = false;
      });
  }, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await current;
    },
  };
}
