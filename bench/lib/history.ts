import type { Client } from '@temporalio/client';

/**
 * Where a workflow's time goes, from its history alone: for each workflow task and activity,
 * the queue wait (scheduled → started) and the run time (started → completed).
 */
type HistoryEvent = { eventType?: unknown; eventTime?: { seconds?: unknown; nanos?: unknown } | null };

const time = (e: HistoryEvent) => Number(e.eventTime!.seconds) * 1000 + Number(e.eventTime!.nanos ?? 0) / 1e6;

// Event types as the proto enum numbers (fetchHistory returns numbers).
const WFT_SCHEDULED = 5;
const WFT_STARTED = 6;
const WFT_COMPLETED = 7;
const ACTIVITY_SCHEDULED = 10;
const ACTIVITY_STARTED = 11;
const ACTIVITY_COMPLETED = 12;
const MARKER_RECORDED = 25;

export async function stepTimes(client: Client, workflowIds: string[]): Promise<{ steps: Record<string, number[]>; events: number[] }> {
  const steps: Record<string, number[]> = {};
  const events: number[] = [];
  const push = (k: string, v: number) => (steps[k] ??= []).push(v);
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const list = (history.events ?? []) as HistoryEvent[];
    if (!list.length) continue;
    events.push(list.length);
    let wft = 0;
    let activity = 0;
    let wftScheduled = 0;
    let wftStarted = 0;
    let activityScheduled = 0;
    let activityStarted = 0;
    for (const e of list) {
      const t = time(e);
      switch (Number(e.eventType)) {
        case WFT_SCHEDULED:
          wftScheduled = t;
          break;
        case WFT_STARTED:
          wft += 1;
          wftStarted = t;
          push(`workflow task ${wft}: queue`, t - wftScheduled);
          break;
        case WFT_COMPLETED:
          push(`workflow task ${wft}: run`, t - wftStarted);
          break;
        case ACTIVITY_SCHEDULED:
          activityScheduled = t;
          break;
        case ACTIVITY_STARTED:
          activity += 1;
          activityStarted = t;
          push(`activity ${activity}: queue`, t - activityScheduled);
          break;
        case ACTIVITY_COMPLETED:
          push(`activity ${activity}: run`, t - activityStarted);
          break;
        case MARKER_RECORDED:
          push('marker recorded (local activity, patch or SDK flag)', 0);
          break;
      }
    }
    push('total: start → close', time(list[list.length - 1]!) - time(list[0]!));
  }
  return { steps, events };
}
