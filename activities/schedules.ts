import { randomUUID } from 'node:crypto';
import { findAgentById } from '../src/db/agents.js';
import { deleteSchedule, findFiringRun, findScheduleById, insertRefusedRun } from '../src/db/schedules.js';
import { AppError } from '../src/errors.js';
import { acceptRun } from '../src/services/runs.js';
import { deleteTemporalSchedule } from '../src/temporal/schedules.js';
import type { Run } from '../src/db/schema.js';
import type { ActivityDeps } from './deps.js';
import { emitForRun, runRef } from './events.js';

/** What a firing's workflow needs next; nothing secret, it lands in history. */
export type ScheduledFiring =
  /**
   * queued: over the agent's or org's concurrency limit, the run waits for a slot (absent in histories from before limits).
   * timeoutSeconds: the run's deadline, which starts it in the one-activity shape (absent in histories from before it).
   */
  | { outcome: 'created'; runId: string; orgId: string; agentId: string; summary: string; queued?: boolean; timeoutSeconds?: number }
  /** callbackAttempts: the schedule has a callback_url, so the refused run is called back like any ending. */
  | { outcome: 'refused'; runId: string; reason: string; callbackAttempts?: number }
  | { outcome: 'gone'; runId: null };

export function createScheduleActivities(deps: ActivityDeps) {
  return {
    /**
     * Creates the firing's run the way POST /v1/agents/{id}/runs does (acceptRun: run row,
     * conversation, first event, credit hold), keyed by the firing so a retry finds the same
     * run. A wallet that cannot cover the hold yields a failed run with the reason, announced.
     */
    async createScheduledRun(scheduleId: string, firingId: string): Promise<ScheduledFiring> {
      const schedule = await findScheduleById(deps.db, scheduleId);
      const agent = schedule ? await findAgentById(deps.db, schedule.agent_id) : undefined;
      if (!schedule || !agent || agent.deleted_at) {
        // Its agent was deleted (or the row went without its Temporal Schedule): stop the firings for good.
        await deleteTemporalSchedule({ temporal: deps.temporal, taskQueue: deps.taskQueue }, scheduleId);
        if (schedule) await deleteSchedule(deps.db, schedule.id);
        return { outcome: 'gone', runId: null };
      }
      const idempotencyKey = `schedule:${firingId}`.slice(0, 255);
      const input = {
        agent,
        message: schedule.message,
        source: 'schedule' as const,
        subject: schedule.subject ?? `Schedule "${schedule.name}"`,
        context: schedule.context,
        metadata: schedule.metadata,
        callbackUrl: schedule.callback_url,
        taskDefinitionId: schedule.task_definition_id,
        idempotencyKey,
        requestFingerprint: { firingId },
        scheduleId: schedule.id,
      };
      // A retry of a firing refused earlier finds its failed run (never started); announcing it again is a no-op.
      const earlier = await findFiringRun(deps.db, agent.org_id, idempotencyKey);
      if (earlier && earlier.status === 'failed' && !earlier.started_at) return announceRefused(earlier, earlier.error ?? 'refused');
      try {
        const { run } = await acceptRun(deps, input);
        return {
          outcome: 'created',
          runId: run.id,
          orgId: run.org_id,
          agentId: agent.id,
          summary: `Run of agent "${agent.name}" (schedule)`.slice(0, 190),
          ...(run.status === 'queued' ? { queued: true } : {}),
          timeoutSeconds: agent.run_timeout_seconds,
        };
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'INSUFFICIENT_CREDITS') throw err;
        const reason = `insufficient credits: ${err.message}`;
        const run = await insertRefusedRun(deps.db, {
          id: randomUUID(),
          org_id: agent.org_id,
          agent_id: agent.id,
          source: 'schedule',
          message: schedule.message,
          result: null,
          error: reason,
          input_tokens: null,
          output_tokens: null,
          metadata: JSON.stringify(schedule.metadata ?? {}),
          subject: input.subject,
          context: JSON.stringify(schedule.context ?? {}),
          callback_url: schedule.callback_url,
          task_definition_id: schedule.task_definition_id,
          conversation_id: null,
          idempotency_key: idempotencyKey,
          request_hash: null,
          schedule_id: schedule.id,
        });
        return announceRefused(run, reason);
      }

      async function announceRefused(run: Run, reason: string): Promise<ScheduledFiring> {
        await emitForRun(deps, run, [
          {
            stream: { type: 'run_failed', payload: { status: 'failed', detail: reason } },
            event: { type: 'run.failed', data: { ...runRef(run, agent!), status: 'failed', error: reason, metadata: run.metadata ?? {} } },
          },
        ]);
        return { outcome: 'refused', runId: run.id, reason, ...(run.callback_url ? { callbackAttempts: deps.settings.retryScheduleMs.length + 1 } : {}) };
      }
    },
  };
}
