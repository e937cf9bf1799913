import type { StreamTables } from './streams.js';
import type { TriggerTables } from './triggerSchema.js';
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

/** A timestamptz column: read as Date, written as Date or ISO string, defaulted by the database. */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** jsonb: always written as a JSON string so pg and PGlite encode it the same way. */
type Json<T> = ColumnType<T, string, string>;
type JsonDefault<T> = ColumnType<T, string | undefined, string>;

/** `scheduled`: accepted with a run_at, waiting for it (its workflow starts then); `queued`: accepted, waiting for a slot under the agent's or the org's max_concurrent_runs. */
export type RunStatus = 'scheduled' | 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled' | 'timed_out';
export type RunSource = 'api' | 'webhook' | 'trigger' | 'schedule';
/** Which customer events an org stores: those an enabled endpoint subscribes to, or all of them. */
export type EventLogMode = 'subscribed' | 'all';
export type ScheduleOverlapPolicyName = 'skip' | 'buffer_one' | 'allow_all';

export interface EchoProvider {
  kind: 'echo';
  /** Simulated thinking time; lets demos and tests hold a run in flight. */
  delay_ms?: number;
}
export interface OpenAiProvider {
  kind: 'openai';
  /** An operator-declared model provider (MODEL_PROVIDERS), by name; exclusive with base_url. */
  provider?: string;
  /** The tenant's own OpenAI-compatible API (public https). */
  base_url?: string;
  /** The tenant's key for base_url, sealed (SecretBox). */
  api_key?: string;
  /**
   * Legacy (before 2026-11-30), never accepted any more: a worker variable named by the tenant.
   * Honoured only where the operator declared a provider with this base_url and variable.
   */
  api_key_env?: string;
  model: string;
  temperature?: number;
  max_tokens?: number;
}
export interface HttpProvider {
  kind: 'http';
  /** The user's own agent service. */
  url: string;
  /** Extra request headers; values are write-only (masked when read back). */
  headers?: Record<string, string>;
  timeout_seconds?: number;
}
export type AgentProvider = EchoProvider | OpenAiProvider | HttpProvider;

export interface OrgsTable {
  id: string;
  name: string;
  /** Crossing this balance downwards records a wallet.balance_low event. */
  low_balance_threshold: ColumnType<string, number | undefined, number>;
  /** Kept balance (bigint, read through Number()): only src/db/credits.ts writes it, with a ledger row. */
  balance: ColumnType<string, never, string>;
  /** Credits held by runs in progress; available = balance − held. */
  held: ColumnType<string, never, string>;
  /** Days runs (and their rows) are kept; null = the operator's RETENTION_DAYS. */
  retention_days: ColumnType<number | null, number | null | undefined, number | null>;
  /** Which events are stored: 'subscribed' (those an enabled endpoint subscribes to) or 'all'; null = the operator's EVENT_LOG. */
  event_log: ColumnType<EventLogMode | null, EventLogMode | null | undefined, EventLogMode | null>;
  created_at: CreatedAt;
  /** Runs of the org's agents that may be processing at once; the rest wait `queued` (null: no cap). */
  max_concurrent_runs: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface ApiKeysTable {
  id: string;
  org_id: string;
  /** null = org-wide key. */
  agent_id: string | null;
  name: string;
  /** First 8 hex characters of the secret part, shown in lists. */
  prefix: string;
  /** SHA-256 (hex) of the whole key; the key itself is never stored. */
  key_hash: string;
  scopes: string[];
  created_at: CreatedAt;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface PortalSessionsTable {
  id: string;
  org_id: string;
  /** null = the whole org. */
  agent_id: string | null;
  name: string;
  scopes: string[];
  /** SHA-256 (hex) of the single-use link token; the token itself is never stored. */
  link_hash: string;
  link_expires_at: Date;
  /** SHA-256 (hex) of the session token, set by the one exchange of the link. */
  session_hash: string | null;
  session_prefix: string | null;
  expires_at: Date;
  /** `admin`, `cli` or `api_key:<id>`: who issued the link. */
  created_by: string;
  created_at: CreatedAt;
  exchanged_at: Date | null;
  revoked_at: NullableTimestamp;
}

export interface AgentsTable {
  id: string;
  org_id: string;
  name: string;
  instructions: ColumnType<string, string | undefined, string>;
  provider: Json<AgentProvider>;
  allow_callback_urls: ColumnType<boolean, boolean | undefined, boolean>;
  run_timeout_seconds: ColumnType<number, number | undefined, number>;
  /** Held when a run is accepted; the most one run may be charged. */
  max_credits_per_run: ColumnType<number, number | undefined, number>;
  /** Runs of this agent that may be processing at once; the rest wait `queued` (null: no limit). */
  max_concurrent_runs: ColumnType<number | null, number | null | undefined, number | null>;
  metadata: JsonDefault<Record<string, unknown>>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface RunsTable {
  id: string;
  org_id: string;
  agent_id: string;
  source: RunSource;
  status: RunStatus;
  message: string;
  result: string | null;
  error: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  credits_used: ColumnType<number, number | undefined, number>;
  metadata: JsonDefault<unknown>;
  created_at: CreatedAt;
  started_at: NullableTimestamp;
  completed_at: NullableTimestamp;
  conversation_id: string | null;
  subject: string | null;
  context: JsonDefault<Record<string, string | number | boolean | null>>;
  task_definition_id: string | null;
  callback_url: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  status_detail: string | null;
  /** Legacy: advanced per run event until 2026-12-01; the last sequence is now read from run_events (lastRunEventSequence). */
  event_seq: ColumnType<number, number | undefined, number>;
  inbound_webhook_id: string | null;
  /** Credits this run still holds (0 once captured or released; null: accepted before holds existed). */
  credits_held: ColumnType<number | null, number | null | undefined, number>;
  /** Actions of the reply beyond MAX_ACTIONS_PER_RUN, not announced. */
  actions_dropped: ColumnType<number, number | undefined, number>;
  /** A delayed run's start time (status `scheduled` until then); null: started at once. */
  run_at: NullableTimestamp;
  /** The schedule whose firing created this run. */
  schedule_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** When the run took a slot under a concurrency limit (at acceptance, or when it left the queue). */
  admitted_at: NullableTimestamp;
}

/** One Temporal Schedule (id `schedule-<id>`) that starts a run of its agent at each firing. */
export interface SchedulesTable {
  id: string;
  org_id: string;
  agent_id: string;
  name: string;
  cron: string | null;
  interval_seconds: number | null;
  timezone: ColumnType<string, string | undefined, string>;
  message: string;
  subject: string | null;
  context: JsonDefault<Record<string, string | number | boolean | null>>;
  metadata: JsonDefault<Record<string, unknown>>;
  task_definition_id: string | null;
  callback_url: string | null;
  overlap_policy: ColumnType<ScheduleOverlapPolicyName, ScheduleOverlapPolicyName | undefined, ScheduleOverlapPolicyName>;
  end_at: NullableTimestamp;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface InboundWebhooksTable {
  id: string;
  org_id: string;
  agent_id: string;
  name: string;
  token_hash: string;
  token_prefix: string;
  outgoing_url: string | null;
  rate_limit_per_minute: ColumnType<number, number | undefined, number>;
  /** What the token URL answers when its synchronous wait runs out: 202 (status URL) or 504 (run id). */
  sync_timeout_status: ColumnType<202 | 504, 202 | 504 | undefined, 202 | 504>;
  is_active: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  last_used_at: NullableTimestamp;
  deleted_at: NullableTimestamp;
}

export interface EndpointsTable {
  id: string;
  org_id: string;
  name: string | null;
  url: string;
  description: string | null;
  events: string[];
  agent_ids: ColumnType<string[], string[] | undefined, string[]>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  disabled_reason: string | null;
  api_version: string;
  headers: JsonDefault<Record<string, string>>;
  verify_ssl: ColumnType<boolean, boolean | undefined, boolean>;
  timeout_seconds: ColumnType<number, number | undefined, number>;
  max_retries: ColumnType<number, number | undefined, number>;
  /** Deliveries per second across all workers; the excess waits (null: unlimited). */
  rate_limit_per_second: ColumnType<number | null, number | null | undefined, number | null>;
  consecutive_failures: ColumnType<number, number | undefined, number>;
  failing_since: NullableTimestamp;
  last_triggered_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface RateLimitCountersTable {
  bucket: string;
  window_start: Timestamp;
  hits: number;
}

export interface SigningSecretsTable {
  id: string;
  org_id: string;
  owner: string;
  secret: string;
  created_at: CreatedAt;
  expires_at: NullableTimestamp;
}

export interface TaskDefinitionsTable {
  id: string;
  org_id: string;
  agent_id: string;
  name: string;
  instructions: string;
  output_type: 'text' | 'json';
  tools: ColumnType<string[], string[] | undefined, string[]>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: NullableTimestamp;
}

export interface ConversationsTable {
  id: string;
  org_id: string;
  agent_id: string;
  subject: string | null;
  external_user_id: string | null;
  inbound_webhook_id: string | null;
  metadata: JsonDefault<unknown>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  run_id: string | null;
  role: 'user' | 'assistant';
  content: string;
  created_at: CreatedAt;
}

export interface RunEventsTable {
  run_id: string;
  sequence: number;
  event_type: string;
  dedupe_key: string;
  payload: JsonDefault<unknown>;
  created_at: CreatedAt;
}

export interface EventsTable {
  id: string;
  org_id: string;
  agent_id: string | null;
  run_id: string | null;
  type: string;
  data: Json<Record<string, unknown>>;
  dedupe_key: string;
  created_at: CreatedAt;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface DeliveriesTable {
  id: string;
  org_id: string;
  kind: 'callback' | 'endpoint';
  run_id: string | null;
  event_id: string | null;
  endpoint_id: string | null;
  url: string;
  message_id: string;
  status: DeliveryStatus;
  attempts: ColumnType<number, number | undefined, number>;
  last_attempt_at: NullableTimestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** Milliseconds this delivery waited for its endpoint's rate_limit_per_second. */
  throttled_ms: ColumnType<number, number | undefined, number>;
}

export interface EndpointSendSlotsTable {
  endpoint_id: string;
  next_at: Date;
  /** When a request last went out under the limit (the send-time gate). */
  sent_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export type RecoveryStatus = 'running' | 'completed' | 'failed';

export interface RecoveriesTable {
  id: string;
  org_id: string;
  endpoint_id: string;
  since: Date;
  until: Date;
  status: ColumnType<RecoveryStatus, RecoveryStatus | undefined, RecoveryStatus>;
  total: number;
  sent: ColumnType<number, number | undefined, number>;
  succeeded: ColumnType<number, number | undefined, number>;
  failed: ColumnType<number, number | undefined, number>;
  enabled_endpoint: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: CreatedAt;
  completed_at: NullableTimestamp;
}

export interface DeliveryAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: Timestamp;
  status_code: number | null;
  latency_ms: number;
  response_excerpt: string | null;
  error: string | null;
  succeeded: boolean;
}

export type CreditEntryKind = 'grant' | 'charge' | 'adjustment';

/** /metrics gauges one process computes per interval for all (migration 20261201T0210). */
export interface MetricSnapshotsTable {
  name: string;
  data: Json<unknown> | null;
  computed_at: NullableTimestamp;
  claimed_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CreditEntriesTable {
  id: string;
  org_id: string;
  kind: CreditEntryKind;
  /** bigint: pg returns it as a string; read through Number() where shown. */
  amount: ColumnType<string, number | bigint | string, never>;
  reason: string;
  /** The run charged; kept (no foreign key) after retention purges the run: the ledger is never purged. */
  run_id: string | null;
  created_at: CreatedAt;
}

export interface Database extends TriggerTables, StreamTables {
  metric_snapshots: MetricSnapshotsTable;
  orgs: OrgsTable;
  api_keys: ApiKeysTable;
  agents: AgentsTable;
  runs: RunsTable;
  credit_entries: CreditEntriesTable;
  signing_secrets: SigningSecretsTable;
  task_definitions: TaskDefinitionsTable;
  conversations: ConversationsTable;
  messages: MessagesTable;
  run_events: RunEventsTable;
  events: EventsTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  inbound_webhooks: InboundWebhooksTable;
  rate_limit_counters: RateLimitCountersTable;
  endpoints: EndpointsTable;
  endpoint_send_slots: EndpointSendSlotsTable;
  recoveries: RecoveriesTable;
  portal_sessions: PortalSessionsTable;
  schedules: SchedulesTable;
}

export type Org = Selectable<OrgsTable>;
export type ApiKey = Selectable<ApiKeysTable>;
export type PortalSession = Selectable<PortalSessionsTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type Agent = Selectable<AgentsTable>;
export type NewAgent = Insertable<AgentsTable>;
export type AgentUpdate = Updateable<AgentsTable>;
export type Run = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
export type Schedule = Selectable<SchedulesTable>;
export type NewSchedule = Insertable<SchedulesTable>;
export type ScheduleUpdate = Updateable<SchedulesTable>;
export type CreditEntry = Selectable<CreditEntriesTable>;
export type TaskDefinition = Selectable<TaskDefinitionsTable>;
export type Conversation = Selectable<ConversationsTable>;
export type Message = Selectable<MessagesTable>;
export type RunEvent = Selectable<RunEventsTable>;
export type EventRow = Selectable<EventsTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type DeliveryAttempt = Selectable<DeliveryAttemptsTable>;
export type InboundWebhook = Selectable<InboundWebhooksTable>;
export type Endpoint = Selectable<EndpointsTable>;
export type Recovery = Selectable<RecoveriesTable>;
