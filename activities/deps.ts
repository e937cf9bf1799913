import type { Kysely } from 'kysely';
import type { Database } from '../src/db/schema.js';
import type { Logger } from '../src/logger.js';

/** What activities may touch. Narrow on purpose: tests hand in real or fake parts. */
export interface ActivityDeps {
  db: Kysely<Database>;
  clock: () => Date;
  log: Logger;
}
