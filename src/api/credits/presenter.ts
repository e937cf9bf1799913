import type { CreditEntry } from '../../db/schema.js';

export function presentCreditEntry(entry: CreditEntry) {
  return {
    id: entry.id,
    kind: entry.kind,
    amount: Number(entry.amount),
    reason: entry.reason,
    run_id: entry.run_id,
    created_at: entry.created_at.toISOString(),
  };
}
