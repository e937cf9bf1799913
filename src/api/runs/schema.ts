import { z } from 'zod';
import { hasUrlCredentials, URL_CREDENTIALS_MESSAGE } from '../../domain/urlCredentials.js';
import { Metadata, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const RunStatusSchema = z
  .enum(['scheduled', 'queued', 'processing', 'completed', 'failed', 'cancelled', 'timed_out'])
  .describe(
    '`scheduled`: a delayed run waiting for its `run_at`; `queued`: accepted, waiting for a slot under the agent\'s or the org\'s max_concurrent_runs (status_detail says why); `processing`: started, the agent is working; the rest are endings',
  );
export const RunSourceSchema = z.enum(['api', 'webhook', 'trigger', 'schedule']).describe('What started the run; `schedule`: a firing of a schedule (`schedule_id`)');

/** Latest allowed run_at / delay: one year ahead. */
export const MAX_RUN_DELAY_SECONDS = 366 * 24 * 3600;

const Scalar = z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]);

export const CreateRunBody = z
  .object({
    message: z.string().min(1).max(50_000).describe('The instruction or prompt for the agent, 1–50,000 characters'),
    subject: z.string().trim().min(1).max(200).optional().describe('Conversation subject (new conversations only)'),
    context: z
      .record(z.string().min(1).max(100), Scalar)
      .refine((c) => Object.keys(c).length <= 50, 'at most 50 keys')
      .optional()
      .describe('Key → scalar pairs appended to the message as structured context'),
    task_definition_id: Uuid.optional().describe('Run one of the agent\'s task definitions'),
    callback_url: z
      .url({ protocol: /^https?$/, error: 'must be an absolute https URL' })
      .max(2048)
      .refine((url) => !hasUrlCredentials(url), URL_CREDENTIALS_MESSAGE)
      .optional().describe(
      'Receives a signed POST when the run ends (the agent must allow callback URLs)',
    ),
    metadata: Metadata.optional().describe('Arbitrary JSON stored with the run and returned with it (at most 16 KB)'),
    conversation_id: Uuid.optional().describe('Continue this conversation of the same agent'),
    run_at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Start the run at this time (at most a year ahead): it waits as `scheduled`, holding its credits, and can be cancelled meanwhile. A time already past starts it at once'),
    delay_seconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_RUN_DELAY_SECONDS)
      .optional()
      .describe('Start the run this many seconds from now (instead of run_at)'),
  })
  .strict()
  .refine((body) => body.run_at === undefined || body.delay_seconds === undefined, { message: 'give run_at or delay_seconds, not both', path: ['delay_seconds'] });

export const ListRunsQuery = PaginationQuery.extend({
  agent_id: Uuid.optional().describe('Only runs of this agent'),
  status: RunStatusSchema.optional(),
  created_after: z.iso.datetime({ offset: true }).optional().describe('Only runs created at or after this time'),
  created_before: z.iso.datetime({ offset: true }).optional().describe('Only runs created before this time'),
});

export const RunEventsQuery = z.object({
  after_sequence: z.coerce.number().int().min(0).optional().describe('Skip events up to this sequence (or send Last-Event-ID)'),
  stream_token: z.string().max(200).optional().describe('A token from POST /v1/runs/{id}/stream-token, instead of the Authorization header (browsers\' EventSource)'),
});

export const StreamTokenSchema = z
  .object({
    token: z.string().describe('Opens this run\'s event stream only, until expires_at, while the key that minted it is not revoked'),
    events_url: z.string().describe('The event stream URL with the token, ready for `new EventSource(events_url)`'),
    expires_at: z.string().describe('ISO 8601; reconnects after this need a new token'),
  })
  .meta({ id: 'StreamToken' });

export const RunAcceptedSchema = z
  .object({
    trigger_id: Uuid.describe('Same as run_id (seed compatibility)'),
    run_id: Uuid,
    status: z
      .enum(['processing', 'scheduled', 'queued'])
      .describe('`scheduled` for a delayed run (run_at, delay_seconds); `queued` when the agent or org is at its max_concurrent_runs: the run starts, in order of arrival, as a slot frees'),
    status_url: z.url().describe('Poll this with the same Authorization header'),
    events_url: z.url().describe('Live Server-Sent Events stream of the run'),
  })
  .meta({ id: 'RunAccepted' });

export const CallbackSummarySchema = z
  .object({
    url: z.string(),
    status: z.enum(['not_sent', 'pending', 'succeeded', 'failed']).describe('`pending` while attempts remain; `failed` once the retry budget is spent or the receiver answered 410'),
    delivery_id: Uuid.nullable(),
    webhook_id: z.string().nullable().describe('The `webhook-id` header of every attempt (msg_ + the run id\'s hex)'),
    attempts: z.number().int(),
    last_attempt_at: Timestamp.nullable(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'CallbackSummary' });

export const RunSchema = z
  .object({
    trigger_id: Uuid.describe('Same as run_id (seed 004\'s poll body)'),
    run_id: Uuid,
    agent_id: Uuid,
    source: RunSourceSchema,
    status: RunStatusSchema,
    status_detail: z.string().nullable(),
    result: z.string().nullable().describe('The agent\'s reply once completed'),
    error: z.string().nullable(),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    run_at: Timestamp.nullable().describe('A delayed run\'s start time; null when it started at once'),
    schedule_id: Uuid.nullable().describe('The schedule that fired this run (source `schedule`)'),
    completed_at: Timestamp.nullable(),
    usage: z.object({ input_tokens: z.number().int().nullable(), output_tokens: z.number().int().nullable() }),
    credits_used: z.number().int().describe('Credits charged: the usage formula, at most the agent\'s max_credits_per_run'),
    actions_dropped: z.number().int().describe('Actions of the reply beyond MAX_ACTIONS_PER_RUN, not announced as agent.action events'),
    conversation_id: Uuid.nullable(),
    subject: z.string().nullable(),
    context: z.record(z.string(), z.unknown()),
    task_definition_id: Uuid.nullable(),
    callback_url: z.string().nullable(),
    callback: CallbackSummarySchema.nullable().describe('Delivery of the callback (or the token URL\'s outgoing_url); null without one'),
    metadata: z.unknown(),
    links: z.object({
      self: z.url(),
      events: z.url(),
      temporal_ui: z.url().nullable().describe('The run\'s workflow in the Temporal Web UI'),
    }),
  })
  .meta({ id: 'Run' });
