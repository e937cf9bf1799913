/**
 * Every workflow id, built in one place. Pure and deterministic: imported by workflow code
 * (inside the sandbox) and by the API, the worker and the reconciler alike, so the id a
 * workflow starts a child under and the id the API looks a run up by can never drift apart.
 * Changing a format orphans every workflow already running under the old one: don't.
 */

/** The run's `agentRun` workflow: one per run, started by whoever comes first (API, retry, cancel, reconciler). */
export const runWorkflowId = (runId: string) => `run-${runId}`;

/** The event's `eventDelivery` workflow: one per event, whatever the number of endpoints. */
export const eventWorkflowId = (eventId: string) => `event-${eventId}`;

/** The run's `runCallback` child workflow, started once the run has ended. */
export const callbackWorkflowId = (runId: string) => `callback-${runId}`;

/**
 * A customer's `POST /v1/deliveries/{id}/retry`: the `redeliver` workflow making attempt
 * `attempt` of the delivery (the stored attempts + 1). Two clicks before that attempt is made
 * share one workflow; a retry after it was made gets the next number.
 */
export const redeliverWorkflowId = (deliveryId: string, attempt: number) => `redeliver-${deliveryId}-${attempt}`;

/** A customer's `POST /v1/runs/{id}/callback/retry`: the `runCallback` workflow making attempt `attempt` of the callback. */
export const callbackRetryWorkflowId = (runId: string, attempt: number) => `callback-retry-${runId}-${attempt}`;

/** Who holds an endpoint slot: one workflow execution's one delivery (`key`). */
export const slotHolderId = (workflowId: string, workflowRunId: string, key: string) => `${workflowId}:${workflowRunId}:${key}`;

/** A schedule's Temporal Schedule (shown on the Web UI's Schedules page). */
export const temporalScheduleId = (scheduleId: string) => `schedule-${scheduleId}`;

/** The prefix of a schedule's firings: Temporal appends each firing's time to it (`scheduled-<id>-<time>`). */
export const scheduledRunWorkflowId = (scheduleId: string) => `scheduled-${scheduleId}`;

/** A bulk recovery of an endpoint's failed deliveries (`POST /v1/endpoints/{id}/recover`). */
export const recoveryWorkflowId = (recoveryId: string) => `recovery-${recoveryId}`;

/** The retention schedule of a task queue (one per namespace and queue; every worker converges on it). */
export const retentionScheduleId = (taskQueue: string) => (taskQueue === 'agent-webhooks' ? 'retention-purge' : `retention-purge-${taskQueue}`);

/** The prefix of the retention schedule's purges: Temporal appends each firing's time. */
export const retentionPurgeWorkflowId = (scheduleId: string) => `${scheduleId}-run`;
