import type { Kysely } from 'kysely';
import type { ActivityDeps } from '../../activities/index.js';
import { publicUrl, type Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { createHttpClient } from '../outbound/client.js';

/** The real dependencies of every activity, built once per worker from configuration. */
export function activityDeps(config: Config, db: Kysely<Database>, log: Logger, overrides: Partial<ActivityDeps> = {}): ActivityDeps {
  return {
    db,
    clock: () => new Date(),
    log,
    http: createHttpClient(
      { requireHttps: config.APP_ENV === 'production', allowedCidrs: config.OUTBOUND_ALLOWED_CIDRS },
      { log: (fields, msg) => log.warn(fields, msg) },
    ),
    env: process.env,
    settings: { retryScheduleMs: config.DELIVERY_RETRY_SCHEDULE, publicUrl: publicUrl(config) },
    ...overrides,
  };
}
