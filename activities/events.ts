import { orgHasEnabledEndpoints } from '../src/db/endpoints.js';
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

export async function emitForRun(deps: ActivityDeps, run: Run, emissions: RunEmission[]): Promise<void> {
  // One look per call instead of a subscription query per event when the org has no endpoint.
  let anyEndpoint: boolean | undefined;
  for (const { stream, event } of emissions) {
    const at = deps.clock();
    if (stream) {
      await appendRunEvent(deps.db, { runId: run.id, type: stream.type, dedupeKey: stream.key ?? stream.type, payload: stream.payload, at });
    }
    if (event) {
      const stored = await storeEvent(deps.db, {
        orgId: run.org_id,
        agentId: run.agent_id,
        runId: run.id,
        type: event.type,
        data: event.data,
        dedupeKey: `${event.type}:${run.id}:${event.key ?? ''}`,
        at,
      });
      // Also on a retry that found the event stored: the earlier attempt may have died before this.
      anyEndpoint ??= await orgHasEnabledEndpoints(deps.db, run.org_id);
      if (anyEndpoint) await dispatchEvent(deps, stored.event);
    }
  }
}
