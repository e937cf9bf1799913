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

export const EVENT_TYPES = {
  'user.message': {
    description: 'A user sent a message to an agent (a run was triggered).',
    data: z.object({
      ...RunRef,
      source: z.string(),
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
    description: 'A run began executing (a run queued under a concurrency limit: when it got its slot).',
    data: z.object({ ...RunRef, source: z.string() }),
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
    description: 'A run failed.',
    data: z.object({ ...RunRef, status: z.literal('failed'), error: z.string(), metadata: RunMetadata }),
  },
  'run.cancelled': {
    description: 'A run was cancelled (a run cancelled while queued was never started and is not charged).',
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
