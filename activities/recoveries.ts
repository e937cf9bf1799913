import { ApplicationFailure } from '@temporalio/activity';
import { findRecovery, finishRecovery, recordRecoveryProgress, recoverablePage, type RecoveryCounts } from '../src/db/recoveries.js';
import type { ActivityDeps } from './deps.js';

/** Bookkeeping of a bulk recovery (workflows/recovery.ts); every write is idempotent. */
export function createRecoveryActivities(deps: ActivityDeps) {
  return {
    /** The next delivery ids to resend, after `afterId`, in the recovery's fixed window. */
    async nextRecoveryPage(recoveryId: string, afterId: string | null, limit: number): Promise<string[]> {
      const recovery = await findRecovery(deps.db, recoveryId);
      if (!recovery) throw ApplicationFailure.create({ type: 'RecoveryNotFound', message: `recovery ${recoveryId} not found`, nonRetryable: true });
      if (recovery.status !== 'running') return [];
      return recoverablePage(deps.db, { endpointId: recovery.endpoint_id, since: recovery.since, until: recovery.until }, afterId, limit);
    },
    async recordRecoveryProgress(recoveryId: string, counts: RecoveryCounts): Promise<void> {
      await recordRecoveryProgress(deps.db, recoveryId, counts);
    },
    async finishRecovery(recoveryId: string, status: 'completed' | 'failed', counts: RecoveryCounts | null): Promise<void> {
      await finishRecovery(deps.db, recoveryId, status, counts, deps.clock());
    },
  };
}
