import type { Transaction } from 'kysely';
import { inTransaction } from '../src/db/executor.js';
import { subscribedEndpointIds } from '../src/db/endpoints.js';
import { findEventsByDedupeKeys, lockRunForEvents, type EventAudience, type NewEvent, type RunTexts } from '../src/db/events.js';
import { writeRunStep, type RunStepWrites, type RunStreamEvent } from '../src/db/runSteps.js';
import type { Agent, Database, EventRow, Run } from '../src/db/schema.js';
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

/** A step's customer events once stored: those to hand to delivery after the commit. */
export interface RecordedEmissions {
  /** New events as emitted, in order. */
  created: EventRow[];
  /** Each stored event's subscribed endpoints by dedupe key, as looked up before storing it. */
  subscribers: Map<string, string[]>;
  /** Dedupe keys an earlier attempt stored: their delivery may not have started if it died after the commit. */
  storedBefore: string[];
}

const dedupeKeyOf = (run: Pick<Run, 'id'>, event: NonNullable<RunEmission['event']>) => `${event.type}:${run.id}:${event.key ?? ''}`;

/**
 * Writes a step's emissions, and the step's own writes of the run (`writes`), in one statement
 * in the caller's transaction, which holds the run's row lock (`lockRunForEvents`,
 * `lockRunForBookkeeping`); each once per dedupe key (src/db/runSteps.ts). `texts` are the run's
 * message and result as stored once the step commits, against which long texts are stored by
 * reference.
 */
export async function recordEmissions(
  deps: Pick<ActivityDeps, 'clock' | 'settings'>,
  trx: Transaction<Database>,
  run: Run,
  emissions: RunEmission[],
  texts: RunTexts,
  audience: EventAudience,
  writes: RunStepWrites = {},
): Promise<RecordedEmissions> {
  const stream: RunStreamEvent[] = [];
  const events: NewEvent[] = [];
  const subscribers = new Map<string, string[]>();
  // A customer event is stored only when someone can read it: a subscribed endpoint, or the
  // org's whole event log (event_log 'all', or the operator's EVENT_LOG). Run-stream events are
  // the run's SSE stream: always stored.
  const logsAll = (audience.eventLog ?? deps.settings.eventLog ?? 'subscribed') === 'all';
  for (const emission of emissions) {
    const at = deps.clock();
    if (emission.stream) stream.push({ type: emission.stream.type, dedupeKey: emission.stream.key ?? emission.stream.type, payload: emission.stream.payload, at });
    if (!emission.event || (!audience.anyEndpoint && !logsAll)) continue;
    const event: NewEvent = { orgId: run.org_id, agentId: run.agent_id, runId: run.id, type: emission.event.type, data: emission.event.data, dedupeKey: dedupeKeyOf(run, emission.event), at };
    const subscribed = audience.anyEndpoint ? await subscribedEndpointIds(trx, { org_id: run.org_id, agent_id: run.agent_id, type: event.type }) : [];
    if (!subscribed.length && !logsAll) continue;
    subscribers.set(event.dedupeKey, subscribed);
    events.push(event);
  }
  const stored = await writeRunStep(trx, run.id, { ...writes, stream, events, texts });
  return {
    created: stored.filter((e): e is EventRow => e !== undefined),
    subscribers,
    storedBefore: events.filter((_, i) => stored[i] === undefined).map((e) => e.dedupeKey),
  };
}

/**
 * Starts the delivery of a step's events, after its commit, in the order they were emitted:
 * also those an earlier attempt stored (it may have died before dispatching; starting a
 * delivery twice is harmless). Only called when the org has an enabled endpoint.
 */
export async function dispatchRecorded(deps: ActivityDeps, recorded: RecordedEmissions): Promise<void> {
  const events = [...recorded.created, ...(await findEventsByDedupeKeys(deps.db, recorded.storedBefore))];
  events.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const event of events) await dispatchEvent(deps, event, recorded.subscribers.get(event.dedupe_key));
}

/**
 * Emits on both streams for a step that has no transaction of its own: one transaction (the
 * run's row lock, the run-stream events, the customer events), then their delivery.
 */
export async function emitForRun(deps: ActivityDeps, run: Run, emissions: RunEmission[]): Promise<void> {
  const { recorded, anyEndpoint } = await inTransaction(deps.db, async (trx) => {
    const audience = await lockRunForEvents(trx, run.id, run.org_id);
    return { recorded: await recordEmissions(deps, trx, run, emissions, { message: run.message, result: run.result }, audience), anyEndpoint: audience.anyEndpoint };
  });
  if (anyEndpoint) await dispatchRecorded(deps, recorded);
}
