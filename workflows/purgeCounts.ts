/**
 * What a retention purge removed, by table: built by the purge's activities, summed by its
 * workflow (so this module stays free of anything the workflow sandbox cannot load).
 */
export interface PurgeCounts {
  runs: number;
  messages: number;
  events: number;
  run_events: number;
  deliveries: number;
  delivery_attempts: number;
  conversations: number;
  stream_tokens: number;
  idempotency_keys: number;
}

export const emptyPurgeCounts = (): PurgeCounts => ({
  runs: 0,
  messages: 0,
  events: 0,
  run_events: 0,
  deliveries: 0,
  delivery_attempts: 0,
  conversations: 0,
  stream_tokens: 0,
  idempotency_keys: 0,
});

/** Adds `more` into `total`, table by table, and returns `total`. */
export function addPurgeCounts(total: PurgeCounts, more: PurgeCounts): PurgeCounts {
  for (const key of Object.keys(total) as Array<keyof PurgeCounts>) total[key] += more[key];
  return total;
}
