import type { Kysely } from 'kysely';

/**
 * When an endpoint under rate_limit_per_second last had a request sent: the send-time gate
 * (src/db/endpointRateLimits.ts takeSendTurn) spaces actual sends 1/rate apart, whatever the
 * workflow timers' lateness (reserved turns that come due together after a stall still go out
 * one interval apart).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('endpoint_send_slots').addColumn('sent_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('endpoint_send_slots').dropColumn('sent_at').execute();
}
