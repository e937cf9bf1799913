import { sql } from 'kysely';
import type { Db } from './executor.js';

export interface DatabaseTotals {
  runs: { status: string; n: number }[];
  deliveries: { kind: string; status: string; n: number }[];
  creditsCharged: number;
}

/** Cluster-wide totals for the metrics gauges: full-table aggregates, so callers cache them. */
export async function readDatabaseTotals(db: Db): Promise<DatabaseTotals> {
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
