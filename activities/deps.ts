import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import type { Logger } from '../src/logger.js';
import type { ModelProviderRegistry } from '../src/outbound/modelProviders.js';
import type { HttpClient } from '../src/outbound/types.js';
import type { SecretBox } from '../src/secrets/box.js';

/** What activities may touch. Narrow on purpose: tests hand in real or fake parts. */
export interface ActivityDeps {
  db: Kysely<Database>;
  clock: () => Date;
  log: Logger;
  /** The SSRF-guarded outbound client (callbacks, deliveries, agent providers). */
  http: HttpClient;
  /** Opens signing secrets and credential header values stored sealed. */
  secrets: SecretBox;
  /** The operator's model providers (MODEL_PROVIDERS) with their keys: the only way a run uses the worker's secrets. */
  modelProviders: ModelProviderRegistry;
  /** Starts delivery workflows for stored events. */
  temporal: Client;
  taskQueue: string;
  settings: {
    /** Delays between delivery attempts, ms (DELIVERY_RETRY_SCHEDULE). */
    retryScheduleMs: readonly number[];
    /** Base of links placed in payloads (events_url). */
    publicUrl: string;
    /** Final delivery failures in a row that disable an endpoint. */
    disableAfterFailures: number;
    /** Actions of one reply announced as agent.action; the rest are counted as dropped. */
    maxActionsPerRun: number;
    /** Concurrent attempts per endpoint / per org's callback origin, across all workers (ENDPOINT_MAX_IN_FLIGHT; default 25). */
    endpointMaxInFlight?: number;
    /** Days runs are kept when their org sets no window (RETENTION_DAYS; default 30). */
    retentionDays?: number;
    /** Which events an org that sets no event_log stores (EVENT_LOG; default `subscribed`: those an enabled endpoint subscribes to). */
    eventLog?: 'subscribed' | 'all';
  };
}
