import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';

/**
 * Grows one org's history with generate_series, as a month of traffic would: per run one runs
 * row (finished, 1 in 20 failed), two run events, one customer event (run.completed), its
 * delivery to the org's endpoint with one attempt, and one ledger charge; the org's kept
 * balance moves with the charges. Ids are derived from (org, n), so growing 10k → 100k → 1M
 * only adds runs n+1…N. Runs are spread over the 30 days before `newest`, newest = n 1.
 */
export interface ScaleOrg {
  orgId: string;
  agentId: string;
  endpointId: string;
  endpointUrl: string;
}

const BATCH = 50_000;
const SPACING_MS = (30 * 24 * 3600 * 1000) / 1_000_000; // 1M runs per 30 days

export async function growRuns(db: Kysely<Database>, org: ScaleOrg, from: number, to: number, newest: Date, log: (line: string) => void): Promise<void> {
  for (let lo = from + 1; lo <= to; lo += BATCH) {
    const hi = Math.min(to, lo + BATCH - 1);
    const started = Date.now();
    await db.transaction().execute(async (trx) => {
      const ids = (kind: string) => sql.raw(`md5('${org.orgId}/${kind}/' || g)::uuid`);
      const at = sql`(${newest.toISOString()}::timestamptz - make_interval(secs => g * ${SPACING_MS / 1000}::float8))`;
      const series = sql`generate_series(${lo}::int, ${hi}::int) g`;
      await sql`
        insert into runs (id, org_id, agent_id, source, status, message, result, error, input_tokens, output_tokens, credits_used,
                          metadata, created_at, started_at, completed_at, subject, context, event_seq, credits_held)
        select ${ids('run')}, ${org.orgId}::uuid, ${org.agentId}::uuid, 'api',
               case when g % 20 = 0 then 'failed' else 'completed' end,
               'Summarise ticket #' || g || ': the customer cannot log in since the last update.',
               case when g % 20 = 0 then null else 'Ticket #' || g || ': ask the customer to reset the password and clear the app cache.' end,
               case when g % 20 = 0 then 'agent error' else null end,
               42, 17, 1, '{}'::jsonb, ${at}, ${at}, ${at} + interval '2 seconds', 'Seeded', '{}'::jsonb, 2, 0
        from ${series}`.execute(trx);
      await sql`
        insert into run_events (run_id, sequence, event_type, dedupe_key, payload, created_at)
        select ${ids('run')}, s, case s when 1 then 'run.started' else 'run.completed' end, 'seed-' || s,
               jsonb_build_object('status', case s when 1 then 'processing' else 'completed' end), ${at}
        from ${series}, generate_series(1, 2) s`.execute(trx);
      await sql`
        insert into events (id, org_id, agent_id, run_id, type, data, dedupe_key, created_at)
        select ${ids('event')}, ${org.orgId}::uuid, ${org.agentId}::uuid, ${ids('run')}, 'run.completed',
               jsonb_build_object('run_id', ${ids('run')}, 'agent_id', ${org.agentId}::uuid, 'status', 'completed',
                                  'result', 'Ticket #' || g || ': ask the customer to reset the password and clear the app cache.'),
               ${org.orgId} || '/seed/' || g, ${at} + interval '2 seconds'
        from ${series}`.execute(trx);
      await sql`
        insert into deliveries (id, org_id, kind, run_id, event_id, endpoint_id, url, message_id, status, attempts, last_attempt_at, created_at, updated_at)
        select ${ids('delivery')}, ${org.orgId}::uuid, 'endpoint', ${ids('run')}, ${ids('event')}, ${org.endpointId}::uuid, ${org.endpointUrl},
               'msg_seed_' || g, case when g % 50 = 0 then 'failed' else 'succeeded' end, 1, ${at} + interval '3 seconds',
               ${at} + interval '2 seconds', ${at} + interval '3 seconds'
        from ${series}`.execute(trx);
      await sql`
        insert into delivery_attempts (delivery_id, attempt, started_at, status_code, latency_ms, response_excerpt, error, succeeded)
        select ${ids('delivery')}, 1, ${at} + interval '3 seconds', case when g % 50 = 0 then 500 else 200 end, 12, 'ok', null, g % 50 <> 0
        from ${series}`.execute(trx);
      await sql`
        insert into credit_entries (id, org_id, kind, amount, reason, run_id, created_at)
        select ${ids('charge')}, ${org.orgId}::uuid, 'charge', -1, 'Run', ${ids('run')}, ${at} + interval '2 seconds'
        from ${series}`.execute(trx);
      await sql`update orgs set balance = balance - ${hi - lo + 1} where id = ${org.orgId}::uuid`.execute(trx);
    });
    log(`  seeded runs ${lo}–${hi} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** What autovacuum would have done to a month-old table: visibility map (index-only scans) and statistics. */
export async function settle(db: Kysely<Database>): Promise<void> {
  for (const table of ['runs', 'run_events', 'events', 'deliveries', 'delivery_attempts', 'credit_entries', 'orgs']) {
    await sql`vacuum (analyze) ${sql.table(table)}`.execute(db);
  }
}

/** Bytes of the tables a run writes (heap + indexes + toast). */
export async function databaseBytes(db: Kysely<Database>): Promise<number> {
  const result = await sql<{ bytes: string }>`select sum(pg_total_relation_size(c.oid))::text as bytes
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'`.execute(db);
  return Number(result.rows[0]?.bytes ?? 0);
}
