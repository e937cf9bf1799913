import { scheduledRunWorkflowId, temporalScheduleId } from '../../workflows/ids.js';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { ScheduledRunInput, scheduledRun } from '../../workflows/index.js';
import { AgentIdKey, OrgIdKey, RunSourceKey } from '../../workflows/searchAttributes.js';
import type { Schedule, ScheduleOverlapPolicyName } from '../db/schema.js';
import { withinDeadline } from './deadline.js';

/**
 * Every call the API makes to Temporal Schedules, in one place (the gateway's style): one
 * Temporal Schedule per `schedules` row, id `schedule-<id>`, whose action starts a
 * `scheduledRun` workflow (`scheduled-<id>-<firing time>`, Temporal appends the time).
 */
export interface ScheduleGatewayDeps {
  temporal: Client;
  /** The runs task queue: a firing's workflow and its run's agentRun child run there. */
  taskQueue: string;
}

/** Bounded like a run's start: with the engine down the caller gets a prompt 503, not a hung request. */
const DEADLINE_MS = 5_000;

export { temporalScheduleId, scheduledRunWorkflowId };
export { ScheduleNotFoundError };

const OVERLAP: Record<ScheduleOverlapPolicyName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

type Described = Pick<Schedule, 'id' | 'org_id' | 'agent_id' | 'name' | 'cron' | 'interval_seconds' | 'timezone' | 'overlap_policy' | 'end_at' | 'paused'>;

function optionsOf(deps: ScheduleGatewayDeps, schedule: Described, agentName: string) {
  const action: ScheduleOptionsStartWorkflowAction<typeof scheduledRun> = {
    type: 'startWorkflow',
    workflowType: 'scheduledRun',
    workflowId: scheduledRunWorkflowId(schedule.id),
    taskQueue: deps.taskQueue,
    args: [{ scheduleId: schedule.id } satisfies ScheduledRunInput],
    typedSearchAttributes: [
      { key: OrgIdKey, value: schedule.org_id },
      { key: AgentIdKey, value: schedule.agent_id },
      { key: RunSourceKey, value: 'schedule' },
    ],
    staticSummary: truncate(`Firing of schedule "${schedule.name}" (agent "${agentName}")`, 190),
  };
  return {
    spec: {
      ...(schedule.cron ? { cronExpressions: [schedule.cron] } : { intervals: [{ every: `${schedule.interval_seconds}s` }] }),
      timezone: schedule.timezone,
      ...(schedule.end_at ? { endAt: schedule.end_at } : {}),
    },
    action,
    // A firing missed while the engine was down is taken within a minute of it, not replayed for a year.
    policies: { overlap: OVERLAP[schedule.overlap_policy], catchupWindow: '1 minute', pauseOnFailure: false },
    state: { paused: schedule.paused, note: schedule.paused ? 'Paused via the API' : undefined },
  } satisfies Omit<ScheduleOptions<typeof action>, 'scheduleId'>;
}

const bounded = <T>(deps: ScheduleGatewayDeps, call: () => Promise<T>, deadlineMs = DEADLINE_MS) => withinDeadline(deps.temporal, Date.now() + deadlineMs, call);

/** Creates the Temporal Schedule, findable in the Web UI by OrgId and AgentId. */
export async function createTemporalSchedule(deps: ScheduleGatewayDeps, schedule: Described, agentName: string): Promise<void> {
  await bounded(deps, () =>
    deps.temporal.schedule.create({
      scheduleId: temporalScheduleId(schedule.id),
      ...optionsOf(deps, schedule, agentName),
      typedSearchAttributes: [
        { key: OrgIdKey, value: schedule.org_id },
        { key: AgentIdKey, value: schedule.agent_id },
      ],
    }),
  );
}

/** Replaces the Schedule's spec, action, policies and paused state with the row's. */
export async function updateTemporalSchedule(deps: ScheduleGatewayDeps, schedule: Described, agentName: string): Promise<void> {
  await bounded(deps, () => deps.temporal.schedule.getHandle(temporalScheduleId(schedule.id)).update(() => optionsOf(deps, schedule, agentName)));
}

export async function pauseTemporalSchedule(deps: ScheduleGatewayDeps, scheduleId: string, paused: boolean): Promise<void> {
  const handle = deps.temporal.schedule.getHandle(temporalScheduleId(scheduleId));
  await bounded(deps, () => (paused ? handle.pause('Paused via the API') : handle.unpause('Resumed via the API')));
}

/** One firing now, under the schedule's own overlap policy (a `skip` schedule busy with a run takes none). */
export async function triggerTemporalSchedule(deps: ScheduleGatewayDeps, schedule: Pick<Schedule, 'id' | 'overlap_policy'>): Promise<void> {
  await bounded(deps, () => deps.temporal.schedule.getHandle(temporalScheduleId(schedule.id)).trigger(OVERLAP[schedule.overlap_policy]));
}

/** Idempotent: a Schedule already gone is fine. */
export async function deleteTemporalSchedule(deps: ScheduleGatewayDeps, scheduleId: string): Promise<void> {
  try {
    await bounded(deps, () => deps.temporal.schedule.getHandle(temporalScheduleId(scheduleId)).delete());
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** The next firing times Temporal computed (empty when paused or past end_at); null when Temporal cannot say now. */
export async function nextFiringsOf(deps: ScheduleGatewayDeps, scheduleId: string): Promise<Date[] | null> {
  try {
    const description = await bounded(deps, () => deps.temporal.schedule.getHandle(temporalScheduleId(scheduleId)).describe(), 2_000);
    return description.info.nextActionTimes;
  } catch {
    return null;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
