import { retentionPurgeWorkflowId, retentionScheduleId } from '../../workflows/ids.js';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptionsAction, type ScheduleSpec } from '@temporalio/client';
import type { Logger } from '../logger.js';

export { retentionScheduleId };

/**
 * Creates the retention schedule, or brings an existing one to this worker's interval and
 * batch size: idempotent, so every worker calls it at start. Overlapping purges are skipped
 * (a long first purge is not joined by the next hour's); a purge missed while the cluster was
 * down is not caught up (the next one removes the same rows).
 */
export async function ensureRetentionSchedule(
  client: Client,
  options: { taskQueue: string; everyMs: number; batchSize: number; log: Logger },
): Promise<string> {
  const scheduleId = retentionScheduleId(options.taskQueue);
  const spec: ScheduleSpec = { intervals: [{ every: options.everyMs }] };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'retentionPurge',
    workflowId: retentionPurgeWorkflowId(scheduleId),
    taskQueue: options.taskQueue,
    args: [{ batchSize: options.batchSize }],
    staticSummary: 'Delete runs, events and deliveries past their retention window',
  };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' } });
    options.log.info({ schedule_id: scheduleId, every_ms: options.everyMs }, 'retention schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
  return scheduleId;
}

/** The worker's start-up call: a schedule Temporal refuses costs a warning, never the worker. */
export async function scheduleRetention(
  client: Client,
  config: { TEMPORAL_TASK_QUEUE: string; RETENTION_PURGE_INTERVAL: number; RETENTION_BATCH_SIZE: number },
  log: Logger,
): Promise<void> {
  if (!config.RETENTION_PURGE_INTERVAL) {
    log.info('RETENTION_PURGE_INTERVAL=0: no retention schedule; nothing is purged unless an operator starts retentionPurge');
    return;
  }
  try {
    await ensureRetentionSchedule(client, {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      everyMs: config.RETENTION_PURGE_INTERVAL,
      batchSize: config.RETENTION_BATCH_SIZE,
      log,
    });
  } catch (err) {
    log.warn({ err }, 'could not create or update the retention schedule; retrying at the next worker start');
  }
}
