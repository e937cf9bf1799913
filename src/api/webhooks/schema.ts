import { z } from 'zod';
import { hasUrlCredentials, URL_CREDENTIALS_MESSAGE } from '../../domain/urlCredentials.js';
import { Metadata, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

const OutgoingUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute https URL' })
  .max(2048)
  .refine((url) => !hasUrlCredentials(url), URL_CREDENTIALS_MESSAGE)
  .describe('Also receives each finished run, signed and retried like a callback');
const SyncTimeoutStatus = z
  .union([z.literal(202), z.literal(504)])
  .describe(
    'What a call answers when the agent is still working after the wait (SYNC_WAIT_SECONDS or `Prefer: wait`): 202 with status_url ' +
      '(default), or 504 (code SYNC_WAIT_EXCEEDED, with run_id and status_url) so automation tools see a failure instead of an empty reply',
  );
const RateLimit = z.number().int().min(1).max(10_000).describe('Calls per minute admitted for this webhook (fixed one-minute windows)');

export const CreateWebhookBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    outgoing_url: OutgoingUrl.optional(),
    rate_limit_per_minute: RateLimit.default(10),
    sync_timeout_status: SyncTimeoutStatus.default(202),
  })
  .strict();

export const UpdateWebhookBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    outgoing_url: OutgoingUrl.nullable().optional(),
    is_active: z.boolean().optional(),
    rate_limit_per_minute: RateLimit.optional(),
    sync_timeout_status: SyncTimeoutStatus.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export const ListWebhooksQuery = PaginationQuery;

export const WebhookSchema = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    name: z.string(),
    token_prefix: z.string().describe('The token\'s first characters, e.g. whk_AbCd1234...'),
    is_active: z.boolean(),
    outgoing_url: z.string().nullable(),
    rate_limit_per_minute: z.number().int(),
    sync_timeout_status: z.union([z.literal(202), z.literal(504)]),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_used_at: Timestamp.nullable().describe('When this token URL last started a run, to the minute (stamped at most once a minute)'),
  })
  .meta({ id: 'Webhook' });

export const WebhookWithTokenSchema = WebhookSchema.extend({
  token: z.string().describe('The secret token: shown only in this response'),
  webhook_url: z.url().describe('POST messages here; the token is the only credential'),
}).meta({ id: 'WebhookWithToken' });

const Scalar = z.union([z.string().max(10_000), z.number(), z.boolean(), z.null()]);

export const WebhookCallBody = z
  .object({
    message: z.string({ error: 'message is required' }).trim().min(1, 'message must not be empty').max(50_000),
    user_id: z.string().min(1).max(200).optional().describe('Your user: the same user_id continues one conversation'),
    conversation_id: Uuid.optional().describe('Continue this conversation explicitly'),
    context: z
      .record(z.string().min(1).max(100), Scalar)
      .refine((c) => Object.keys(c).length <= 50, 'at most 50 keys')
      .optional(),
    metadata: Metadata.optional(),
  })
  .describe('Unknown fields are ignored: automation platforms often send extra ones');

export const WebhookReplySchema = z
  .object({
    response: z.string().describe('The agent\'s reply'),
    conversation_id: Uuid,
    credits_used: z.number().int(),
    run_id: Uuid,
  })
  .meta({ id: 'WebhookReply' });

export const WebhookPendingSchema = z
  .object({
    run_id: Uuid,
    status: z.literal('processing'),
    status_url: z.url().describe('Poll this for the reply (the token is its credential: in the path, or in the header when you sent it there)'),
    conversation_id: Uuid,
  })
  .meta({ id: 'WebhookPending' });

export const WebhookRunSchema = z
  .object({
    run_id: Uuid,
    status: z.enum(['processing', 'completed', 'failed', 'cancelled', 'timed_out']),
    response: z.string().nullable(),
    conversation_id: Uuid.nullable(),
    credits_used: z.number().int(),
    created_at: Timestamp,
    completed_at: Timestamp.nullable(),
  })
  .meta({ id: 'WebhookRun' });
