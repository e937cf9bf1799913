import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * The database gauges of /metrics. They are full-table aggregates, so one process computes
 * them per interval (elected by a conditional update of `claimed_at`) and stores the figures;
 * every scrape of every process reads that one row.
 */
export interface DatabaseTotals {
  runs: { status: string; n: number }[];
  deliveries: { kind: string; status: string; n: number }[];
  creditsCharged: number;
}

const SNAPSHOT = 'database_totals';

export interface Snapshot {
  totals: DatabaseTotals | undefined;
  computedAt: Date | null;
  /** This caller won the recomputation: compute, then storeDatabaseTotals. */
  claimed: boolean;
}

/** Reads the shared figures and, when they are older than `staleAfterMs`, claims their recomputation (one claimant per interval). */
export async function readDatabaseTotalsSnapshot(db: Kysely<Database>, staleAfterMs: number): Promise<Snapshot> {
  const result = await sql<{ data: DatabaseTotals | null; computed_at: Date | null; claimed: boolean }>`
    with claimed as (
      update metric_snapshots set claimed_at = now()
      where name = ${SNAPSHOT} and claimed_at < now() - make_interval(secs => ${staleAfterMs / 1000})
      returning name
    )
    select data, computed_at, exists (select 1 from claimed) as claimed from metric_snapshots where name = ${SNAPSHOT}`.execute(db);
  const row = result.rows[0];
  return { totals: row?.data ?? undefined, computedAt: row?.computed_at ?? null, claimed: row?.claimed ?? false };
}

export async function storeDatabaseTotals(db: Kysely<Database>, totals: DatabaseTotals): Promise<void> {
  await db
    .updateTable('metric_snapshots')
    .set({ data: JSON.stringify(totals), computed_at: sql<Date>`now()` })
    .where('name', '=', SNAPSHOT)
    .execute();
}

/** The aggregates themselves: run only by the process that claimed the interval. */
export async function computeDatabaseTotals(db: Kysely<Database>): Promise<DatabaseTotals> {
  const [runs, deliveries, charged] = await Promise.all([
    db.selectFrom('runs').select(['status', sql<string>`count(*)`.as('n')]).groupBy('status').execute(),
    db.selectFrom('deliveries').select(['kind', 'status', sql<string>`count(*)`.as('n')]).groupBy(['kind', 'status']).execute(),
    db.selectFrom('credit_entries').select(sql<string>`coalesce(-sum(amount), 0)`.as('n')).where('kind', '=', 'charge').executeTakeFirst(),
  ]);
  return {
    runs: runs.map((r) => ({ status: r.status, n: Number(r.n) })),
    deliveries: deliveries.map((r) => ({ kind: r.kind, status: r.status, n: Number(r.n) })),
    creditsCharged: Number(charged?.n ?? 0),
  };
}
