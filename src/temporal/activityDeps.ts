import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { ActivityDeps } from '../../activities/index.js';
import { publicUrl, type Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { outboundClient } from '../outbound/fromConfig.js';
import { modelProviderRegistry } from '../outbound/modelProviders.js';
import { secretBoxFromConfig } from '../secrets/box.js';

/** The real dependencies of every activity, built once per worker from configuration. */
export function activityDeps(
  config: Config,
  db: Kysely<Database>,
  log: Logger,
  temporal: Client,
  overrides: Partial<ActivityDeps> = {},
  /** Where the keys of MODEL_PROVIDERS are read from, once, here. */
  env: Record<string, string | undefined> = process.env,
): ActivityDeps {
  const http = outboundClient(config, log);
  return {
    db,
    clock: () => new Date(),
    log,
    http,
    secrets: secretBoxFromConfig(config),
    modelProviders: modelProviderRegistry(config, env, http),
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    settings: {
      retryScheduleMs: config.DELIVERY_RETRY_SCHEDULE,
      publicUrl: publicUrl(config),
      disableAfterFailures: config.ENDPOINT_DISABLE_AFTER_FAILURES,
      maxActionsPerRun: config.MAX_ACTIONS_PER_RUN,
      endpointMaxInFlight: config.ENDPOINT_MAX_IN_FLIGHT,
      retentionDays: config.RETENTION_DAYS,
      eventLog: config.EVENT_LOG,
    },
    ...overrides,
  };
}
