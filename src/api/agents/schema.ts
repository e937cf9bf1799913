import { z } from 'zod';
import type { AgentProvider } from '../../db/schema.js';
import { Metadata, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

const HttpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
  .max(2048);

const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be a valid HTTP header name');

export const AgentProviderSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('echo'),
        delay_ms: z.number().int().min(0).max(600_000).optional().describe('Simulated thinking time in milliseconds'),
      })
      .strict()
      .describe('Built-in deterministic agent that answers with the message it got'),
    z
      .object({
        kind: z.literal('openai'),
        base_url: HttpUrl.describe('Base URL of an OpenAI-compatible API, e.g. https://api.openai.com/v1'),
        model: z.string().min(1).max(200),
        api_key_env: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name (A-Z, 0-9, _)')
          .optional()
          .describe('Environment variable of the worker that holds the API key'),
        temperature: z.number().min(0).max(2).optional(),
        max_tokens: z.number().int().min(1).max(1_000_000).optional(),
      })
      .strict()
      .describe('Any OpenAI-compatible chat-completions API'),
    z
      .object({
        kind: z.literal('http'),
        url: HttpUrl.describe('Your agent service; it receives POST {run_id, message, context, conversation}'),
        headers: z
          .record(HeaderName, z.string().max(4096))
          .refine((h) => Object.keys(h).length <= 20, 'at most 20 headers')
          .optional()
          .describe('Extra request headers (write-only: values are masked when read back)'),
        timeout_seconds: z.number().int().min(1).max(300).optional(),
      })
      .strict()
      .describe('Your own agent service over HTTP'),
  ])
  .describe('Which runtime answers the agent\'s runs');

// The API's provider shape and the stored one are the same type.
export const providerTypesAgree: z.output<typeof AgentProviderSchema> extends AgentProvider ? true : never = true;

const AgentFields = {
  name: z.string().trim().min(1).max(200).describe('Display name, 1–200 characters'),
  instructions: z.string().max(100_000).describe('The agent\'s system prompt'),
  provider: AgentProviderSchema,
  allow_callback_urls: z.boolean().describe('Whether run triggers may pass a callback_url'),
  run_timeout_seconds: z.number().int().min(1).max(86_400).describe('A run still going after this long ends as timed_out'),
  max_credits_per_run: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .describe('Credits held when a run is accepted (402 when the org has fewer available) and the most one run is charged'),
  metadata: Metadata,
};

/** ≈ 10,000 prompt tokens or 3,300 reply tokens: a generous chat turn, while a small wallet can still run. */
export const DEFAULT_MAX_CREDITS_PER_RUN = 100;

export const CreateAgentBody = z
  .object({
    name: AgentFields.name,
    instructions: AgentFields.instructions.default(''),
    provider: AgentFields.provider.default({ kind: 'echo' }),
    allow_callback_urls: AgentFields.allow_callback_urls.default(false),
    run_timeout_seconds: AgentFields.run_timeout_seconds.default(300),
    max_credits_per_run: AgentFields.max_credits_per_run.default(DEFAULT_MAX_CREDITS_PER_RUN),
    metadata: AgentFields.metadata.default({}),
  })
  .strict();

export const UpdateAgentBody = z
  .object({
    name: AgentFields.name.optional(),
    instructions: AgentFields.instructions.optional(),
    provider: AgentFields.provider.optional(),
    allow_callback_urls: AgentFields.allow_callback_urls.optional(),
    run_timeout_seconds: AgentFields.run_timeout_seconds.optional(),
    max_credits_per_run: AgentFields.max_credits_per_run.optional(),
    metadata: AgentFields.metadata.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export const ListAgentsQuery = PaginationQuery;

export const AgentSchema = z
  .object({
    id: Uuid,
    name: z.string(),
    instructions: z.string(),
    provider: z.record(z.string(), z.unknown()).describe('The provider, with header values masked'),
    allow_callback_urls: z.boolean(),
    run_timeout_seconds: z.number().int(),
    max_credits_per_run: z.number().int().describe('Held per accepted run; the most one run is charged'),
    metadata: z.record(z.string(), z.unknown()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Agent' });
