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

/**
 * The send-time gate of rate_limit_per_second: takes the endpoint's turn when its last request
 * went out at least 1/rate ago (0: send now), else answers how long until it may. One
 * statement under the row's lock, on the database's clock, so sends through every worker stay
 * spaced 1/rate apart even when reserved turns (reserveEndpointSendSlot) come due together
 * after a stall. 0 for an endpoint without a limit.
 */
export async function takeSendTurn(db: Db, endpointId: string): Promise<number> {
  const { rows } = await sql<{ taken: boolean; wait_ms: number | null }>`
    with limited as (
      select id, make_interval(secs => 1.0 / rate_limit_per_second) as gap from endpoints where id = ${endpointId} and rate_limit_per_second is not null
    ), taken as (
      insert into endpoint_send_slots as s (endpoint_id, next_at, sent_at)
      select id, now(), now() from limited
      on conflict (endpoint_id) do update set sent_at = now()
        where s.sent_at is null or s.sent_at <= now() - (select gap from limited)
      returning s.endpoint_id
    )
    select exists (select 1 from taken) as taken,
      (select greatest(1, extract(epoch from (s.sent_at + limited.gap - now())) * 1000)
         from endpoint_send_slots s, limited where s.endpoint_id = limited.id)::float8 as wait_ms
    from limited`.execute(db);
  const row = rows[0];
  if (!row || row.taken) return 0;
  return Math.ceil(row.wait_ms ?? 1);
}
