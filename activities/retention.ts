import { addPurgeCounts, emptyPurgeCounts, type PurgeCounts } from '../workflows/purgeCounts.js';
import {
  expireIdempotencyKeys,
  IDEMPOTENCY_KEY_TTL_MS,
  orgAfter,
  orgAtCursor,
  purgeExpiredStreamTokens,
  purgeOrgEventsBatch,
  purgeRunsBatch,
} from '../src/db/retention.js';
import { retentionPurged } from '../src/metrics.js';
import type { ActivityDeps } from './deps.js';

export type { PurgeCounts } from '../workflows/purgeCounts.js';

/** Operator default when neither the org nor RETENTION_DAYS says otherwise. */
export const DEFAULT_RETENTION_DAYS = 30;

export interface RetentionBatchInput {
  /** The purge's "now" (ISO): rows older than asOf − the org's window go. */
  asOf: string;
  /** The org to purge (id order); null = the first one. */
  cursor: string | null;
  batchSize: number;
}

export interface RetentionBatchResult {
  removed: PurgeCounts;
  /** Where the next batch starts; null once every org is done. */
  cursor: string | null;
}

function count(removed: PurgeCounts): PurgeCounts {
  for (const [table, n] of Object.entries(removed)) if (n) retentionPurged.inc({ table }, n);
  return removed;
}

/** One short transaction per call, so the workflow paces the purge and Temporal retries a failed batch. */
export function createRetentionActivities(deps: ActivityDeps) {
  const defaultDays = () => deps.settings.retentionDays ?? DEFAULT_RETENTION_DAYS;
  return {
    /** One batch of the org at `cursor`: its expired runs first, then its expired run-less events; moves on when it has none left. */
    async purgeRetentionBatch(input: RetentionBatchInput): Promise<RetentionBatchResult> {
      const org = await orgAtCursor(deps.db, input.cursor);
      if (!org) return { removed: emptyPurgeCounts(), cursor: null };
      const cutoff = new Date(Date.parse(input.asOf) - (org.retention_days ?? defaultDays()) * 86_400_000);
      const scope = { orgId: org.id, cutoff, limit: input.batchSize };
      const removed = await purgeRunsBatch(deps.db, scope);
      if (removed.runs >= input.batchSize) return { removed: count(removed), cursor: org.id };
      const events = await purgeOrgEventsBatch(deps.db, scope);
      addPurgeCounts(removed, events);
      if (events.events >= input.batchSize) return { removed: count(removed), cursor: org.id };
      return { removed: count(removed), cursor: await orgAfter(deps.db, org.id) };
    },

    /** One batch of what expires regardless of org windows: Idempotency-Keys after 24 h, stream tokens after their TTL. */
    async purgeExpiredKeysBatch(input: { asOf: string; batchSize: number }): Promise<{ removed: PurgeCounts; more: boolean }> {
      const asOf = Date.parse(input.asOf);
      const removed = emptyPurgeCounts();
      removed.idempotency_keys = await expireIdempotencyKeys(deps.db, { before: new Date(asOf - IDEMPOTENCY_KEY_TTL_MS), limit: input.batchSize });
      removed.stream_tokens = await purgeExpiredStreamTokens(deps.db, { before: new Date(asOf), limit: input.batchSize });
      return { removed: count(removed), more: removed.idempotency_keys >= input.batchSize || removed.stream_tokens >= input.batchSize };
    },

    /** The purge's summary line in the worker's log. */
    async reportRetentionPurge(summary: { asOf: string; batches: number; removed: PurgeCounts }): Promise<void> {
      deps.log.info({ as_of: summary.asOf, batches: summary.batches, removed: summary.removed }, 'retention purge finished');
    },
  };
}
