import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Per-endpoint delivery rate limit (rate_limit_per_second) as GCRA's virtual schedule, in one
 * statement: each call reserves the endpoint's next send slot — max(next_at, now) — and moves
 * next_at one emission interval (1/rate s) past it, under the row's lock. Slots are therefore
 * spaced at least 1/rate apart whichever API or worker asks, and nothing is refused: a caller
 * learns how long to wait for its slot. Returns 0 for an endpoint without a limit. The
 * database's clock decides, not each worker's.
 */
export async function reserveEndpointSendSlot(db: Db, endpointId: string): Promise<number> {
  const { rows } = await sql<{ wait_ms: number }>`
    with limited as (
      select id, rate_limit_per_second as rate from endpoints where id = ${endpointId} and rate_limit_per_second is not null
    ), reserved as (
      insert into endpoint_send_slots as s (endpoint_id, next_at)
      select id, now() + make_interval(secs => 1.0 / rate) from limited
      on conflict (endpoint_id) do update set next_at = greatest(s.next_at, now()) + (excluded.next_at - now())
      returning s.next_at
    )
    select greatest(0, extract(epoch from (reserved.next_at - now())) * 1000 - 1000.0 / limited.rate)::float8 as wait_ms
    from reserved, limited`.execute(db);
  return Math.ceil(rows[0]?.wait_ms ?? 0);
}

/** The wait shows in the delivery log: throttled_ms accumulates every wait of the delivery. */
export async function addDeliveryThrottle(db: Db, deliveryId: string, waitMs: number): Promise<void> {
  await db
    .updateTable('deliveries')
    .set((eb) => ({ throttled_ms: sql<number>`least(${eb.ref('throttled_ms')}::bigint + ${Math.round(waitMs)}, 2147483647)` }))
    .where('id', '=', deliveryId)
    .execute();
}
