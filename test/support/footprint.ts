import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';

/** Bytes of the database's tables as Postgres stores them: heap + TOAST + every index, and the rows' own data. */
export interface DatabaseFootprint {
  /** pg_total_relation_size of every public table (heap, TOAST, indexes, free-space map). */
  bytes: number;
  /** sum(pg_column_size(row)) of every row: the data alone, without pages, indexes or dead tuples. */
  dataBytes: number;
  perTable: Record<string, { rows: number; bytes: number; dataBytes: number }>;
}

/**
 * The measure the bench's footprint section takes ("bytes per run" = the Δ of this over N runs
 * ÷ N). Tables are counted after a plain VACUUM-free CHECKPOINT-free read: the Δ over many runs
 * absorbs page rounding (each relation grows by whole 8 KiB pages).
 */
export async function databaseFootprint(db: Kysely<Database>): Promise<DatabaseFootprint> {
  const tables = await sql<{ name: string; bytes: string }>`
    select c.relname as name, pg_total_relation_size(c.oid) as bytes
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and c.relname not like 'kysely_%'`.execute(db);
  const perTable: DatabaseFootprint['perTable'] = {};
  for (const t of tables.rows) {
    const counted = await sql<{ rows: string; data: string | null }>`select count(*) as rows, sum(pg_column_size(t.*)) as data from ${sql.table(t.name)} t`.execute(db);
    perTable[t.name] = { rows: Number(counted.rows[0]!.rows), bytes: Number(t.bytes), dataBytes: Number(counted.rows[0]!.data ?? 0) };
  }
  const sum = (f: 'bytes' | 'dataBytes') => Object.values(perTable).reduce((a, t) => a + t[f], 0);
  return { bytes: sum('bytes'), dataBytes: sum('dataBytes'), perTable };
}

/** Per-run Δ between two footprints, total and by table (tables that did not change are left out). */
export function perRunDelta(before: DatabaseFootprint, after: DatabaseFootprint, runs: number) {
  const tables: Record<string, { rows: number; bytes: number; dataBytes: number }> = {};
  for (const [name, a] of Object.entries(after.perTable)) {
    const b = before.perTable[name] ?? { rows: 0, bytes: 0, dataBytes: 0 };
    if (a.bytes === b.bytes && a.rows === b.rows) continue;
    tables[name] = { rows: (a.rows - b.rows) / runs, bytes: (a.bytes - b.bytes) / runs, dataBytes: (a.dataBytes - b.dataBytes) / runs };
  }
  return { bytes: (after.bytes - before.bytes) / runs, dataBytes: (after.dataBytes - before.dataBytes) / runs, tables };
}
