import { z } from 'zod';
import type { AgentProvider } from '../../db/schema.js';
import { hasUrlCredentials, URL_CREDENTIALS_MESSAGE } from '../../domain/urlCredentials.js';
import { customHeadersSchema } from '../customHeaders.js';
import { Metadata, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

const HttpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
  .max(2048)
  .refine((url) => !hasUrlCredentials(url), URL_CREDENTIALS_MESSAGE);

/** Sent as `Authorization: Bearer <key>`: header text only. */
const ApiKey = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/**
 * Tenants never name anything on the operator's machines: a field such as `api_key_env`
 * (the worker's environment variable), a key file or a socket path is refused with the why.
 */
function unknownProviderKeys(keys: string[]): string {
  const local = keys.filter((k) => /(^|_)(env|file|path|socket|command)$/i.test(k));
  if (local.length) {
    return `${local.join(', ')}: naming an environment variable, file or other server-side resource is not allowed; ` +
      'pick an operator\'s model provider by name (provider) or send your own base_url with its api_key';
  }
  return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map((k) => `"${k}"`).join(', ')}`;
}

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
      .object(
        {
          kind: z.literal('openai'),
          provider: z
            .string()
            .min(1)
            .max(63)
            .optional()
            .describe('A model provider the operator offers, by name (GET /v1/model-providers); its URL and key stay on the server'),
          base_url: HttpUrl.optional().describe(
            'Or your own OpenAI-compatible API: a public https URL, e.g. https://api.openai.com/v1 (checked when saved and at every connection)',
          ),
          api_key: ApiKey.optional().describe('The key for your own base_url (write-only: stored encrypted, masked when read back)'),
          model: z.string().min(1).max(200),
          temperature: z.number().min(0).max(2).optional(),
          max_tokens: z.number().int().min(1).max(1_000_000).optional(),
        },
        { error: (issue) => (issue.code === 'unrecognized_keys' ? unknownProviderKeys(issue.keys) : undefined) },
      )
      .strict()
      .refine((p) => (p.provider === undefined) !== (p.base_url === undefined), {
        message: 'name exactly one of provider (an operator\'s model provider) or base_url (your own API)',
        path: ['provider'],
      })
      .refine((p) => p.api_key === undefined || p.base_url !== undefined, {
        message: 'an api_key goes with your own base_url; an operator\'s provider brings its own key',
        path: ['api_key'],
      })
      .describe('Any OpenAI-compatible chat-completions API: an operator\'s provider by name, or your own https URL and key'),
    z
      .object({
        kind: z.literal('http'),
        url: HttpUrl.describe('Your agent service; it receives POST {run_id, message, context, conversation}'),
        headers: customHeadersSchema()
          .optional()
          .describe(
            'Extra request headers (write-only: values are masked when read back); the same rules as endpoint headers: ' +
              'not Host, Content-Length, Transfer-Encoding, Connection or Content-Type, no line breaks',
          ),
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
  max_concurrent_runs: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .nullable()
    .describe('Runs of this agent processing at once; more wait as `queued` and start in order of arrival as slots free (null: no limit). Delayed runs and schedule firings count too: a delayed run joins the queue at its `run_at`'),
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
    max_concurrent_runs: AgentFields.max_concurrent_runs.default(null),
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
    max_concurrent_runs: AgentFields.max_concurrent_runs.optional(),
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
    provider: z.record(z.string(), z.unknown()).describe('The provider, with credentials (http header values, an openai api_key) masked as ***'),
    allow_callback_urls: z.boolean(),
    run_timeout_seconds: z.number().int(),
    max_credits_per_run: z.number().int().describe('Held per accepted run; the most one run is charged'),
    max_concurrent_runs: z.number().int().nullable().describe('Runs processing at once; the rest wait `queued` (null: no limit)'),
    metadata: z.record(z.string(), z.unknown()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Agent' });

export const ModelProvidersSchema = z
  .object({
    data: z.array(
      z.object({
        name: z.string().describe('Use as `provider` in an openai agent'),
        models: z.array(z.string()).describe('Models it offers; empty = any model name'),
      }),
    ),
  })
  .meta({ id: 'ModelProviders' });
