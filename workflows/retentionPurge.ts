import { continueAsNew, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { addPurgeCounts, emptyPurgeCounts, type PurgeCounts } from './purgeCounts.js';

export interface RetentionPurgeInput {
  /** The purge's "now" (ISO); default the workflow's start time. Tests and operators inject one. */
  asOf?: string;
  /** Runs (or keys) per batch, one short transaction each (default 500). */
  batchSize?: number;
  /** Carried across continue-as-new: the step and the org the purge had reached. */
  phase?: 'orgs' | 'keys';
  cursor?: string | null;
  removed?: PurgeCounts;
  batches?: number;
}

export interface RetentionPurgeResult {
  asOf: string;
  batches: number;
  removed: PurgeCounts;
}

/** Batches per workflow run before continuing as new: keeps the history small on a big first purge. */
const BATCHES_PER_HISTORY = 400;

/**
 * Deletes what the retention windows let go (workflow id from the `retention-purge` schedule):
 * org by org, in batches of short transactions, children before parents; then the
 * Idempotency-Keys older than 24 h. Returns (and logs) what it removed.
 */
export async function retentionPurge(input: RetentionPurgeInput = {}): Promise<RetentionPurgeResult> {
  const { purgeRetentionBatch, purgeExpiredKeysBatch, reportRetentionPurge } = proxyActivities<Activities>({
    // A batch is a few hundred rows in one transaction: seconds at most, even on a loaded database.
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes' },
  });
  const asOf = input.asOf ?? new Date().toISOString();
  const batchSize = input.batchSize ?? 500;
  const removed = input.removed ?? emptyPurgeCounts();
  let batches = input.batches ?? 0;
  let cursor = input.cursor ?? null;
  let orgsDone = input.phase === 'keys';
  const add = (more: PurgeCounts) => addPurgeCounts(removed, more);
  let runCount = 0;
  while (!orgsDone) {
    const batch = await purgeRetentionBatch({ asOf, cursor, batchSize });
    add(batch.removed);
    batches++;
    runCount++;
    cursor = batch.cursor;
    if (cursor === null) orgsDone = true;
    else if (runCount >= BATCHES_PER_HISTORY) await continueAsNew<typeof retentionPurge>({ asOf, batchSize, phase: 'orgs', cursor, removed, batches });
  }
  for (;;) {
    const batch = await purgeExpiredKeysBatch({ asOf, batchSize });
    add(batch.removed);
    batches++;
    runCount++;
    if (!batch.more) break;
    if (runCount >= BATCHES_PER_HISTORY) await continueAsNew<typeof retentionPurge>({ asOf, batchSize, phase: 'keys', removed, batches });
  }
  await reportRetentionPurge({ asOf, batches, removed });
  return { asOf, batches, removed };
}
