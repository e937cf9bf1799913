import { z } from 'zod';

/**
 * The catalog of customer-facing events. Each type has a description and a schema of its
 * `data`, published at GET /v1/event-types.
 */
const AgentRef = z.object({ id: z.string(), name: z.string() });
const RunRef = { run_id: z.string(), agent: AgentRef, agent_id: z.string(), conversation_id: z.string().nullable() };
/** Seed 003's `room`: the conversation (an id for agent events, `{id, name}` for user.message). */
const Room = z.string().nullable();
/** The run's metadata, as the caller sent it (e.g. `{"source":"n8n"}`). */
const RunMetadata = z.unknown();
const RunSource = z.string().describe('What started the run: `api`, `webhook` (a token URL), `trigger` or `schedule` (a firing of a schedule)');

export const EVENT_TYPES = {
  'user.message': {
    description: 'A user sent a message to an agent (a run was triggered).',
    data: z.object({
      ...RunRef,
      source: RunSource,
      user: z.object({ id: z.string().nullable(), name: z.string().nullable() }),
      room: z.object({ id: z.string().nullable(), name: z.string().nullable() }),
      content: z.string(),
    }),
  },
  'agent.message': {
    description: 'An agent replied.',
    data: z.object({ ...RunRef, room: Room, content: z.string() }),
  },
  'agent.action': {
    description: 'An agent performed an action (a tool call) during a run.',
    data: z.object({ ...RunRef, room: Room, action: z.string(), content: z.string() }),
  },
  'conversation.created': {
    description: 'A new conversation started.',
    data: z.object({ conversation_id: z.string(), agent: AgentRef, subject: z.string().nullable() }),
  },
  'run.started': {
    description: 'A run began executing (a delayed run at its run_at; a scheduled run at its firing; a run queued under a concurrency limit when it got its slot).',
    data: z.object({ ...RunRef, source: RunSource }),
  },
  'run.completed': {
    description: 'A run finished with the agent\'s reply.',
    data: z.object({
      ...RunRef,
      status: z.literal('completed'),
      result: z.string(),
      credits_used: z.number().int(),
      actions_dropped: z.number().int().describe('Actions of the reply beyond the per-run cap, not announced as agent.action'),
      metadata: RunMetadata,
    }),
  },
  'run.failed': {
    description:
      'A run failed. Also a schedule\'s firing the wallet could not cover: a run recorded as failed at once (never started, nothing charged), `error` starting with `insufficient credits`.',
    data: z.object({ ...RunRef, status: z.literal('failed'), error: z.string(), metadata: RunMetadata }),
  },
  'run.cancelled': {
    description: 'A run was cancelled (also a delayed run cancelled before its run_at, or a run cancelled while queued: its credit hold is released, nothing charged).',
    data: z.object({ ...RunRef, status: z.literal('cancelled'), metadata: RunMetadata }),
  },
  'run.timed_out': {
    description: 'A run exceeded its agent\'s run_timeout_seconds.',
    data: z.object({ ...RunRef, status: z.literal('timed_out'), error: z.string(), metadata: RunMetadata }),
  },
  'wallet.balance_low': {
    description: 'The organization\'s credit balance fell below its low-balance threshold.',
    data: z.object({ balance: z.number().int(), threshold: z.number().int() }),
  },
  'endpoint.disabled': {
    description: 'An endpoint was disabled after failing repeatedly (or answering 410 Gone).',
    data: z.object({ endpoint_id: z.string(), url: z.string(), reason: z.string() }),
  },
} as const;

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];

/** What an event of type `T` carries in `data`, as its catalog schema describes it. */
export type EventData<T extends EventType> = z.input<(typeof EVENT_TYPES)[T]['data']>;

/** An event about to be stored: its type and data always match the catalog (see emit). */
export type Emitted<T extends EventType = EventType> = { [K in T]: { type: K; data: EventData<K> } }[T];

/**
 * The one way to build a customer event: the data's shape follows from the type, so a field
 * missing, misspelt or of the wrong type fails tsc. Runtime checks: checkEventData (tests).
 */
export function emit<T extends EventType>(type: T, data: EventData<T>): Emitted<T> {
  return { type, data } as Emitted<T>;
}

/** Parses stored or emitted data against the catalog: the issues, or an empty list when it conforms. */
export function checkEventData(type: string, data: unknown): string[] {
  const entry = (EVENT_TYPES as Record<string, { data: z.ZodType }>)[type];
  if (!entry) return [`unknown event type ${type}`];
  const parsed = entry.data.safeParse(data);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${type}.${i.path.join('.')}: ${i.message}`);
}
