import { findEventAudience, subscribedEndpointIds } from '../src/db/endpoints.js';
import { appendRunEvent, storeEvent } from '../src/db/events.js';
import type { Agent, Run } from '../src/db/schema.js';
import type { Emitted } from '../src/domain/eventTypes.js';
import { dispatchEvent } from '../src/services/eventDispatch.js';
import type { ActivityDeps } from './deps.js';

/**
 * Both streams a run feeds: its own live stream (run_events, read by SSE clients) and the
 * org's customer-facing events (delivered to endpoints). Every write is keyed so a retried
 * activity repeats nothing.
 */
export interface RunEmission {
  /** Run-stream event, e.g. run_started; omitted when the step has none. */
  stream?: { type: string; key?: string; payload: Record<string, unknown> };
  /** Customer event, e.g. run.started, built with emit(type, data) so its data matches the catalog. */
  event?: Emitted & { key?: string };
}

export function runRef(run: Run, agent: Pick<Agent, 'id' | 'name'>) {
  return { run_id: run.id, agent: { id: agent.id, name: agent.name }, agent_id: agent.id, conversation_id: run.conversation_id };
}

/**
 * Stores and dispatches the run's emissions. A customer event is stored only when someone can
 * read it (issue 19): an enabled endpoint subscribes to it, or the org logs every event
 * (`event_log = 'all'`, or the operator's EVENT_LOG). Run-stream events are always stored: they
 * are the run's SSE stream.
 */
export async function emitForRun(deps: ActivityDeps, run: Run, emissions: RunEmission[]): Promise<void> {
  // One look per call: an org with no endpoint and no event log stores no customer event, and
  // asks for no subscription per event.
  let audience: { logsAll: boolean; hasEndpoints: boolean } | undefined;
  for (const { stream, event } of emissions) {
    const at = deps.clock();
    if (stream) {
      await appendRunEvent(deps.db, { runId: run.id, type: stream.type, dedupeKey: stream.key ?? stream.type, payload: stream.payload, at, runResult: run.result });
    }
    if (!event) continue;
    audience ??= await findEventAudience(deps.db, run.org_id, deps.settings.eventLog ?? 'subscribed');
    // Asked on a retry too: an earlier attempt may have stored the event and died before dispatching it.
    const subscribers = audience.hasEndpoints ? await subscribedEndpointIds(deps.db, { org_id: run.org_id, agent_id: run.agent_id, type: event.type }) : [];
    if (!subscribers.length && !audience.logsAll) continue;
    const stored = await storeEvent(deps.db, {
      orgId: run.org_id,
      agentId: run.agent_id,
      runId: run.id,
      type: event.type,
      data: event.data,
      dedupeKey: `${event.type}:${run.id}:${event.key ?? ''}`,
      at,
    });
    if (subscribers.length) await dispatchEvent(deps, stored.event, subscribers);
  }
}
