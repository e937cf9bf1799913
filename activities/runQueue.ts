import { inTransaction } from '../src/db/executor.js';
import { ApplicationFailure } from '@temporalio/activity';
import { releaseRunHold } from '../src/db/credits.js';
import { findAgentById } from '../src/db/agents.js';
import { findRunById } from '../src/db/runs.js';
import { admitQueuedRuns, cancelQueuedRunRow, enqueueDueRun, setQueuedDetail } from '../src/db/runQueue.js';
import { startRunWorkflow } from '../src/services/runs.js';
import { signalRunAdmitted } from '../src/temporal/gateway.js';
import { runsHoldingSlotsInTemporal } from '../src/services/runSlots.js';
import type { ActivityDeps } from './deps.js';
import { emitForRun, runRef } from './events.js';

export type AdmissionState =
  | { state: 'admitted' }
  | { state: 'waiting'; position: number }
  /** The run left the queue another way (cancelled): there is nothing to run. */
  | { state: 'ended'; status: string };

/** Sent to a queued run's workflow when another admission gave it a slot: it stops waiting at once. */
export const RUN_ADMITTED_SIGNAL = 'runAdmitted';

/** Concurrency limits: queued runs take free slots in arrival order (src/db/runQueue.ts). */
export function createRunQueueActivities(deps: ActivityDeps) {
  /** Wakes the workflows of runs another run's poll admitted; starts one its accepting API never started. */
  async function wake(runIds: string[]): Promise<void> {
    await Promise.all(
      runIds.map(async (id) => {
        const found = await signalRunAdmitted({ temporal: deps.temporal, taskQueue: deps.taskQueue }, id).catch(() => 'unavailable' as const);
        if (found === 'not_found') {
          const run = await findRunById(deps.db, id);
          // Admitted (processing) now: started without the queue flag, it simply runs (else the reconciler does).
          if (run) await startRunWorkflow({ db: deps.db, temporal: deps.temporal, taskQueue: deps.taskQueue }, run).catch(() => undefined);
        }
      }),
    );
  }

  return {
    /**
     * Admits whatever fits in the org (oldest first) and says where `runId` stands. Idempotent:
     * a retry after the commit finds the run processing and answers admitted.
     */
    async admitRun(runId: string): Promise<AdmissionState> {
      let run = await findRunById(deps.db, runId);
      if (!run) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
      // A delayed run's time has come: it joins the queue now (or starts, with no limit to wait for).
      if (run.status === 'scheduled') {
        await enqueueDueRun(deps.db, runId);
        run = (await findRunById(deps.db, runId)) ?? run;
      }
      if (run.status === 'processing') return { state: 'admitted' };
      if (run.status !== 'queued') return { state: 'ended', status: run.status };
      const holding = await runsHoldingSlotsInTemporal(deps.temporal, run.org_id);
      const admission = await admitQueuedRuns(deps.db, run.org_id, holding);
      await wake(admission.admitted.filter((id) => id !== runId));
      if (admission.admitted.includes(runId)) return { state: 'admitted' };
      const mine = admission.waiting.find((w) => w.id === runId);
      if (!mine) {
        // Beyond the admission window (hundreds queued ahead) or ended meanwhile.
        const current = await findRunById(deps.db, runId);
        if (current?.status === 'processing') return { state: 'admitted' };
        if (current?.status !== 'queued') return { state: 'ended', status: current?.status ?? 'gone' };
        return { state: 'waiting', position: admission.waiting.length + 1 };
      }
      await setQueuedDetail(deps.db, runId, `${mine.detail}; position ${mine.position} in the queue`);
      return { state: 'waiting', position: mine.position };
    },

    /**
     * Cancels a run still in the queue: cancelled, its hold released (nothing charged), no slot
     * taken or freed, announced like any cancel. Returns false when it was admitted first: then
     * the run's ordinary path ends it.
     */
    async cancelQueuedRun(runId: string): Promise<{ cancelled: boolean; hasCallback: boolean; callbackAttempts: number }> {
      const run = await findRunById(deps.db, runId);
      if (!run) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
      const plan = { hasCallback: Boolean(run.callback_url), callbackAttempts: deps.settings.retryScheduleMs.length + 1 };
      if (run.status === 'processing') return { cancelled: false, ...plan };
      const detail = run.status === 'scheduled' ? 'cancelled on request before it started' : 'cancelled on request while queued';
      await inTransaction(deps.db, async (trx) => {
        if (await cancelQueuedRunRow(trx, run, detail, deps.clock())) await releaseRunHold(trx, run);
      });
      const current = await findRunById(deps.db, runId);
      if (current?.status !== 'cancelled') return { cancelled: current?.status !== 'processing', ...plan };
      const agent = await findAgentById(deps.db, run.agent_id);
      if (agent) {
        await emitForRun(deps, run, [
          {
            stream: { type: 'run_cancelled', payload: { status: 'cancelled', detail } },
            event: { type: 'run.cancelled', data: { ...runRef(run, agent), status: 'cancelled', metadata: run.metadata ?? {} } },
          },
        ]);
      }
      return { cancelled: true, ...plan };
    },
  };
}
