import { z } from 'zod';
import { hasUrlCredentials, URL_CREDENTIALS_MESSAGE } from '../../domain/urlCredentials.js';
import { EVENT_TYPE_NAMES } from '../../domain/eventTypes.js';
import { customHeadersSchema } from '../customHeaders.js';
import { PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const API_VERSIONS = ['2026-11-01'] as const;

/** Headers the signature scheme owns cannot be set per endpoint (framing headers never can). */
const SIGNATURE_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'x-webhook-signature', 'user-agent'];

const EndpointUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute https URL' })
  .max(2048)
  .refine((url) => !hasUrlCredentials(url), URL_CREDENTIALS_MESSAGE);

const Events = z
  .array(z.enum(EVENT_TYPE_NAMES as [string, ...string[]], { error: (issue) => `unknown event type ${JSON.stringify(issue.input)}` }))
  .min(1, 'subscribe to at least one event type')
  .max(50, 'at most 50 event types')
  .refine((e) => new Set(e).size === e.length, 'must not list an event type twice')
  .describe('Event types to receive (see GET /v1/event-types)');

const Headers = customHeadersSchema(SIGNATURE_HEADERS).describe(
  'Custom headers sent with every delivery (not Host, Content-Length, Transfer-Encoding, Connection, Content-Type or the signature headers; no line breaks)',
);

const Fields = {
  url: EndpointUrl.describe('Receives the deliveries; HTTPS in production'),
  name: z.string().trim().min(1).max(200),
  description: z.string().max(200, 'at most 200 characters'),
  events: Events,
  agent_ids: z.array(Uuid).max(100).describe('Only these agents\' events; empty = every agent'),
  enabled: z.boolean(),
  api_version: z.enum(API_VERSIONS, { error: `must be one of ${API_VERSIONS.join(', ')}` }),
  headers: Headers,
  verify_ssl: z.boolean().describe('Verify the receiver\'s TLS certificate'),
  timeout_seconds: z.number().int().min(1).max(300).describe('Per attempt, 1–300'),
  max_retries: z.number().int().min(0).max(10).describe('Retries after the first attempt, 0–10'),
  rate_limit_per_second: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .nullable()
    .describe('At most this many deliveries a second to this endpoint, across all workers; the excess waits its turn (never fails or drops), shown as `throttled_ms` in the delivery log. null: unlimited'),
};

export const CreateEndpointBody = z
  .object({
    url: Fields.url,
    name: Fields.name.optional(),
    description: Fields.description.optional(),
    events: Fields.events,
    agent_ids: Fields.agent_ids.default([]),
    enabled: Fields.enabled.default(true),
    api_version: Fields.api_version.default(API_VERSIONS[0]),
    headers: Fields.headers.default({}),
    verify_ssl: Fields.verify_ssl.default(true),
    timeout_seconds: Fields.timeout_seconds.default(30),
    max_retries: Fields.max_retries.default(3),
    rate_limit_per_second: Fields.rate_limit_per_second.default(null),
  })
  .strict();

export const UpdateEndpointBody = z
  .object({
    url: Fields.url.optional(),
    name: Fields.name.nullable().optional(),
    description: Fields.description.nullable().optional(),
    events: Fields.events.optional(),
    agent_ids: Fields.agent_ids.optional(),
    enabled: Fields.enabled.optional(),
    api_version: Fields.api_version.optional(),
    headers: Fields.headers.optional(),
    verify_ssl: Fields.verify_ssl.optional(),
    timeout_seconds: Fields.timeout_seconds.optional(),
    max_retries: Fields.max_retries.optional(),
    rate_limit_per_second: Fields.rate_limit_per_second.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export const ListEndpointsQuery = PaginationQuery.extend({
  agent_id: Uuid.optional().describe('Endpoints that receive this agent\'s events'),
});

export const EndpointSchema = z
  .object({
    id: Uuid,
    url: z.string(),
    name: z.string().nullable(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    agent_ids: z.array(Uuid),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    api_version: z.string(),
    headers: z.record(z.string(), z.string()).describe('Header names; values are write-only (masked)'),
    verify_ssl: z.boolean(),
    timeout_seconds: z.number().int(),
    max_retries: z.number().int(),
    rate_limit_per_second: z.number().int().nullable().describe('Deliveries a second at most (null: unlimited)'),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_triggered_at: Timestamp.nullable(),
    health: z.object({
      deliveries_24h: z.number().int(),
      succeeded_24h: z.number().int(),
      failed_24h: z.number().int(),
      success_rate_24h: z.number().nullable().describe('Share of finished deliveries that succeeded, 0–1'),
      consecutive_failures: z.number().int(),
    }),
  })
  .meta({ id: 'Endpoint' });

export const CreatedEndpointSchema = EndpointSchema.extend({
  secret: z.string().describe('whsec_… signing secret: shown only in this response'),
}).meta({ id: 'CreatedEndpoint' });

export const RotateSecretBody = z
  .object({ grace_seconds: z.number().int().min(0).max(7 * 86_400).default(86_400).describe('How long the old secret keeps signing') })
  .strict();

export const TestResultSchema = z
  .object({
    success: z.boolean(),
    status_code: z.number().int().nullable().describe('The endpoint\'s HTTP status; null when no answer came'),
    statusCode: z.number().int().nullable().describe('Same as status_code, kept for seed 002\'s clients'),
    error: z.string().nullable(),
    latency_ms: z.number().int(),
  })
  .meta({ id: 'EndpointTestResult' });

export const DeliveryAttemptSchema = z.object({
  attempt: z.number().int(),
  started_at: Timestamp,
  status_code: z.number().int().nullable(),
  latency_ms: z.number().int(),
  response_excerpt: z.string().nullable().describe('First 2 KB of the response body'),
  error: z.string().nullable(),
  succeeded: z.boolean(),
});

export const DeliverySchema = z
  .object({
    id: Uuid,
    kind: z.enum(['callback', 'endpoint']),
    event_id: Uuid.nullable(),
    endpoint_id: Uuid.nullable(),
    run_id: Uuid.nullable(),
    url: z.string(),
    message_id: z.string().describe('The webhook-id header: the same on every attempt'),
    status: z.enum(['pending', 'succeeded', 'failed']),
    attempts: z.array(DeliveryAttemptSchema),
    throttled_ms: z.number().int().describe('How long this delivery waited for its endpoint\'s rate_limit_per_second, in milliseconds (0: never)'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Delivery' });

export const ListDeliveriesQuery = PaginationQuery.extend({ status: z.enum(['pending', 'succeeded', 'failed']).optional() });
