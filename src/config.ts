import { z } from 'zod';

/**
 * The whole process configuration, parsed once from the environment at start-up.
 * Tests build a `Config` with `testConfig()`-style helpers instead of mutating `process.env`.
 */
const SECRETS_KEY_FORMAT = 'base64 of exactly 32 bytes (openssl rand -base64 32)';

/** Canonical base64 of 32 bytes: anything else (a passphrase, a hex string) is an operator mistake. */
export function isSecretsKey(value: string): boolean {
  const bytes = Buffer.from(value, 'base64');
  return bytes.length === 32 && bytes.toString('base64') === value;
}

/** One model provider the operator offers tenants by name (MODEL_PROVIDERS). */
export const ModelProviderConfig = z
  .object({
    /** What tenants put in `provider.provider`. */
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 lower-case letters, digits, ".", "_" or "-"'),
    /** An OpenAI-compatible API, e.g. https://api.openai.com/v1 or http://ollama.internal:11434/v1. */
    base_url: z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }),
    /** The worker's environment variable holding the key (read by the worker only; omit for keyless local servers). */
    api_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name').optional(),
    /** Reach a private, loopback or plain-HTTP address (Ollama, vLLM, LiteLLM on the operator's network). */
    allow_private: z.boolean().default(false),
    /** Models tenants may pick; empty = any model name. */
    models: z.array(z.string().min(1).max(200)).max(200).default([]),
  })
  .strict();
export type ModelProviderConfig = z.infer<typeof ModelProviderConfig>;

const ModelProviders = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of {name, base_url, api_key_env?, allow_private?, models?}' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(ModelProviderConfig, { error: 'must be a JSON array of {name, base_url, api_key_env?, allow_private?, models?}' })
      .max(100)
      .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'must not name a provider twice'),
  );

const ConfigSchema = z.object({
  /** `production` requires HTTPS targets and is the default for `api` and `worker`. */
  APP_ENV: z.enum(['production', 'development']),
  PORT: z.coerce
    .number({ error: 'must be a whole number between 1 and 65535' })
    .int('must be a whole number between 1 and 65535')
    .min(1, 'must be a whole number between 1 and 65535')
    .max(65535, 'must be a whole number between 1 and 65535'),
  HOST: z.string().min(1),
  /** Base URL used to build absolute links (status_url, webhook_url). Defaults to http://localhost:PORT. */
  PUBLIC_URL: z.url({ error: 'must be an absolute http(s) URL' }).optional(),
  DATA_DIR: z.string().min(1),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200),
  /** false behind a pooler in transaction mode that cannot keep prepared statements (src/db/preparedStatements.ts). */
  DATABASE_PREPARED_STATEMENTS: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port, e.g. localhost:7233')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1),
  TEMPORAL_TASK_QUEUE: z.string().min(1),
  /** TLS to Temporal: on when any TEMPORAL_TLS_* or TEMPORAL_API_KEY is set; `true` alone = TLS with the system's roots. */
  TEMPORAL_TLS: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true').optional(),
  /** Client certificate and key (PEM file paths) for mutual TLS. */
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  /** CA that signed the cluster's server certificate (PEM file path); unset = the system's roots. */
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  /** Server name to verify (and send as SNI) when it differs from TEMPORAL_ADDRESS's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Temporal Cloud API key (implies TLS). */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** Base URL of the Temporal Web UI, for links to runs. */
  TEMPORAL_UI_URL: z.url({ error: 'must be an absolute http(s) URL' }).optional(),
  /** gRPC and Web UI ports of the embedded dev server (`npm run dev` without TEMPORAL_ADDRESS). */
  TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535),
  /** Explicit path to a `temporal` CLI for the embedded dev server. */
  TEMPORAL_CLI: z.string().min(1).optional(),
  /** A prebuilt workflow bundle (`bundleWorkflowCode` output) for the worker; unset = bundle the sources at start. */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Encrypts signing secrets and credential header values at rest (base64 of 32 bytes); unset = stored as given. */
  SECRETS_KEY: z.string().refine(isSecretsKey, `must be ${SECRETS_KEY_FORMAT}`).optional(),
  /** Production refuses to start without SECRETS_KEY unless this is `true` (secrets then stored as given). */
  ALLOW_UNENCRYPTED_SECRETS: z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true'),
  /** Earlier SECRETS_KEY values, comma-separated: what they sealed still opens; new writes use SECRETS_KEY. */
  SECRETS_KEY_PREVIOUS: z
    .string()
    .transform((v) => v.split(',').map((k) => k.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine(isSecretsKey, `must be comma-separated keys, each ${SECRETS_KEY_FORMAT}`))),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** CIDRs exempt from the outbound private-address block (dev and tests: 127.0.0.0/8,::1/128). */
  OUTBOUND_ALLOWED_CIDRS: z
    .string()
    .transform((v) => v.split(',').map((c) => c.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[0-9a-fA-F.:]+\/\d{1,3}$/, 'must be comma-separated CIDRs, e.g. 127.0.0.0/8,::1/128'))),
  /** Delays between delivery and callback attempts (Standard Webhooks schedule by default). */
  DELIVERY_RETRY_SCHEDULE: z
    .string()
    .transform((v, ctx) => {
      const delays = v.split(',').map((d) => parseDuration(d.trim()));
      if (!delays.length || delays.some((d) => d === null)) {
        ctx.addIssue({ code: 'custom', message: 'must be comma-separated durations like 5s,5m,2h' });
        return z.NEVER;
      }
      return delays as number[];
    }),
  /** The worker's /metrics port (0 = off); the Temporal SDK's own exporter listens on the next port, on loopback. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65534),
  /** Active endpoints an org may have. */
  MAX_ENDPOINTS_PER_ORG: z.coerce.number().int().min(1).max(10_000),
  /** An endpoint whose deliveries finally fail this many times in a row (or for 24 h) is disabled. */
  ENDPOINT_DISABLE_AFTER_FAILURES: z.coerce.number().int().min(1).max(1_000),
  /** How long POST /api/webhook/{token} waits for the agent before answering 202. */
  SYNC_WAIT_SECONDS: z.coerce.number().int().min(1).max(600),
  /** The longest wait a token-URL caller may ask for with `Prefer: wait=<seconds>` (never below SYNC_WAIT_SECONDS). */
  SYNC_WAIT_MAX_SECONDS: z.coerce.number().int().min(1).max(600),
  /** Length of a token URL's rate-limit window, in seconds (its rate_limit_per_minute is admitted per window). Tests shorten it. */
  WEBHOOK_RATE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600),
  /** SSE comment heartbeat interval, keeps proxies from closing idle streams. */
  SSE_HEARTBEAT_SECONDS: z.coerce.number().min(0.1).max(300),
  /**
   * Who may embed the console (/console) in a frame: the CSP `frame-ancestors` sources,
   * space-separated (`'self'`, `https://app.example.com`, `https://*.example.com`). `'none'` = nobody.
   */
  PORTAL_FRAME_ANCESTORS: z
    .string()
    .trim()
    .regex(
      /^(?:'none'|(?:'self'|https?:\/\/(?:\*\.)?[A-Za-z0-9.-]+(?::\d{1,5})?)(?:\s+(?:'self'|https?:\/\/(?:\*\.)?[A-Za-z0-9.-]+(?::\d{1,5})?))*)$/,
      "must be 'none' or space-separated origins like 'self' https://app.example.com",
    ),
  /** Open SSE streams one API key may hold on one API process (429 beyond). */
  SSE_MAX_STREAMS_PER_KEY: z.coerce.number().int().min(1).max(100_000),
  /** Open SSE streams on one run on one API process (429 beyond). */
  SSE_MAX_STREAMS_PER_RUN: z.coerce.number().int().min(1).max(100_000),
  /** Lifetime of a stream token (POST /v1/runs/{id}/stream-token), for browsers' EventSource. */
  SSE_STREAM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(10).max(3_600),
  /** Concurrent activities of the worker's deliveries task queue (deliveries, callbacks), apart from agent runs. */
  DELIVERY_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000),
  /**
   * Workflows each of the worker's two task queues keeps in memory between their tasks (the SDK's
   * sticky cache); one evicted replays its history on its next task. The SDK's default follows
   * the heap limit (≈2 300 per queue with Node's 4 GiB), far above what a worker has in flight.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000),
  /** Concurrent attempts against one endpoint (or one org's callback origin) across all workers; more wait their turn. */
  ENDPOINT_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000),
  /** When set, /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How often the database gauges of /metrics are recomputed (never per scrape). */
  METRICS_GAUGE_INTERVAL_SECONDS: z.coerce.number().min(0.1).max(3_600),
  /** Largest accepted request body, in bytes. */
  BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024),
  /**
   * Model providers tenants pick by name, as JSON: `[{"name":"ollama","base_url":"http://10.0.0.5:11434/v1",
   * "allow_private":true,"models":["llama3.1"]},{"name":"openai","base_url":"https://api.openai.com/v1","api_key_env":"OPENAI_API_KEY"}]`.
   */
  MODEL_PROVIDERS: ModelProviders,
  /** Actions of one agent reply announced as agent.action events; the rest are counted as dropped. */
  MAX_ACTIONS_PER_RUN: z.coerce.number().int().min(0).max(1_000),
  /** How often a worker looks for accepted runs whose workflow never started (0 = never). */
  RUN_RECONCILE_INTERVAL_SECONDS: z.coerce.number().min(0).max(3_600),
  /** A run is left alone this long after it was accepted: its API is still starting it (5 s deadline). */
  RUN_RECONCILE_MIN_AGE_SECONDS: z.coerce.number().min(1).max(86_400),
  /** Days runs and their messages, events, deliveries and attempts are kept, for orgs that set no retention_days. */
  RETENTION_DAYS: z.coerce.number().int().min(1).max(3_650),
  /**
   * Which customer events are stored, for orgs that set no event_log: `subscribed` (default) keeps
   * the events an enabled endpoint subscribes to (and the rare account events, wallet.balance_low
   * and endpoint.disabled); `all` keeps every event for the org's retention window, read or not.
   */
  EVENT_LOG: z.enum(['subscribed', 'all']),
  /** How often the worker's `retention-purge` schedule runs the purge (e.g. 1h); 0 = no schedule (the operator purges). */
  RETENTION_PURGE_INTERVAL: z.string().transform((v, ctx) => {
    if (v === '0') return 0;
    const ms = parseDuration(v);
    if (ms === null || ms < 60_000) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration of at least 1m like 30m or 1h, or 0 for no schedule' });
      return z.NEVER;
    }
    return ms;
  }),
  /** Runs deleted per purge batch (one short transaction each). */
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000),
  /** How long a graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** `500ms`, `5s`, `5m`, `2h` → milliseconds; null when unreadable. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (!match) return null;
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(match[1]) * unit);
}

type Env = Record<string, string | undefined>;

const baseDefaults: Env = {
  APP_ENV: 'production',
  PORT: '3000',
  HOST: '0.0.0.0',
  DATA_DIR: '.dev',
  DATABASE_POOL_SIZE: '10',
  DATABASE_PREPARED_STATEMENTS: 'true',
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_TASK_QUEUE: 'agent-webhooks',
  TEMPORAL_DEV_PORT: '7233',
  TEMPORAL_UI_PORT: '8233',
  LOG_LEVEL: 'info',
  BODY_LIMIT_BYTES: String(1024 * 1024),
  OUTBOUND_ALLOWED_CIDRS: '',
  SECRETS_KEY_PREVIOUS: '',
  ALLOW_UNENCRYPTED_SECRETS: 'false',
  DELIVERY_RETRY_SCHEDULE: '5s,5m,30m,2h,5h,10h,14h,20h,24h',
  SYNC_WAIT_SECONDS: '30',
  SYNC_WAIT_MAX_SECONDS: '120',
  WEBHOOK_RATE_WINDOW_SECONDS: '60',
  MAX_ENDPOINTS_PER_ORG: '50',
  METRICS_PORT: '9464',
  ENDPOINT_DISABLE_AFTER_FAILURES: '5',
  SSE_HEARTBEAT_SECONDS: '15',
  SSE_MAX_STREAMS_PER_KEY: '100',
  SSE_MAX_STREAMS_PER_RUN: '100',
  SSE_STREAM_TOKEN_TTL_SECONDS: '300',
  DELIVERY_MAX_CONCURRENT_ACTIVITIES: '100',
  WORKER_MAX_CACHED_WORKFLOWS: '500',
  ENDPOINT_MAX_IN_FLIGHT: '25',
  METRICS_GAUGE_INTERVAL_SECONDS: '30',
  SHUTDOWN_TIMEOUT_SECONDS: '30',
  PORTAL_FRAME_ANCESTORS: "'none'",
  MODEL_PROVIDERS: '[]',
  MAX_ACTIONS_PER_RUN: '20',
  RUN_RECONCILE_INTERVAL_SECONDS: '10',
  RUN_RECONCILE_MIN_AGE_SECONDS: '15',
  RETENTION_DAYS: '30',
  EVENT_LOG: 'subscribed',
  RETENTION_PURGE_INTERVAL: '1h',
  RETENTION_BATCH_SIZE: '500',
};

/** Never echoed back in a configuration error. */
const SECRET_VARIABLES = new Set(['ADMIN_TOKEN', 'DATABASE_URL', 'SECRETS_KEY', 'SECRETS_KEY_PREVIOUS', 'TEMPORAL_API_KEY', 'METRICS_TOKEN']);

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`invalid configuration: ${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses configuration from `env`. Empty strings count as unset, so `FOO=` in a .env file
 * falls back to the default instead of failing on an empty value.
 */
export function parseConfig(env: Env, defaults: Env = {}): Config {
  const merged: Env = { ...baseDefaults, ...defaults };
  for (const [key, value] of Object.entries(env)) {
    if (key in ConfigSchema.shape && value !== undefined && value !== '') merged[key] = value;
  }
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const got = merged[variable];
    const shown = SECRET_VARIABLES.has(variable) ? '' : ` (got "${got}")`;
    throw new ConfigError(variable, `${issue.message}${got === undefined ? '' : shown}`);
  }
  return Object.freeze(result.data);
}

/**
 * For process entry points: parse or exit with a single line naming the variable.
 * A config error is an operator's typo, not a crash: no stack trace.
 */
export function loadConfigOrExit(defaults: Env = {}): Config {
  try {
    return parseConfig(process.env, defaults);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

export function publicUrl(config: Config): string {
  return (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/+$/, '');
}
