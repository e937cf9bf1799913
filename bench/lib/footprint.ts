import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';

// One measure for the bench's footprint section and test/integration/runFootprint.test.ts, so their figures agree.

/** Bytes of the database's tables as Postgres stores them: heap + TOAST + every index, and the rows' own data. */
export interface DatabaseFootprint {
  /** pg_total_relation_size of every public table (heap, TOAST, indexes, free-space map). */
  bytes: number;
  /** sum(pg_column_size(row)) of every row: the data alone, without pages, indexes or dead tuples. */
  dataBytes: number;
  /**
   * Free space inside the tables' heap pages (pgstattuple): room later rows fill, not a cost of the
   * rows measured. `bytes − freeBytes` is steadier than `bytes` over a few hundred runs, where
   * each relation's last, partly filled page is noise. 0 when pgstattuple is unavailable.
   */
  freeBytes: number;
  /** Rows of every public table. */
  rows: number;
  perTable: Record<string, { rows: number; bytes: number; dataBytes: number }>;
  /** Each relation on its own: a table's heap (`table`), its TOAST (`table (toast)`) and every index by name. */
  perRelation: Record<string, number>;
}

/**
 * The measure the bench's footprint section takes ("bytes per run" = the Δ of this over N runs
 * ÷ N): relations grow by whole 8 KiB pages, so the Δ needs a few hundred runs to mean much.
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
  const sum = (f: 'rows' | 'bytes' | 'dataBytes') => Object.values(perTable).reduce((a, t) => a + t[f], 0);
  let freeBytes = 0;
  try {
    await sql`create extension if not exists pgstattuple`.execute(db);
    const free = await sql<{ free: string | null }>`
      select sum((pgstattuple(c.oid)).free_space) as free
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r' and c.relname not like 'kysely_%'`.execute(db);
    freeBytes = Number(free.rows[0]!.free ?? 0);
  } catch {
    /* no pgstattuple here: bytes alone */
  }
  const relations = await sql<{ name: string; bytes: string }>`
    select c.relname as name, pg_relation_size(c.oid) as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and c.relname not like 'kysely_%'
    union all
    select c.relname || ' (toast)', pg_total_relation_size(c.reltoastrelid) from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and c.reltoastrelid <> 0 and c.relname not like 'kysely_%'
    union all
    select i.relname, pg_relation_size(i.oid) from pg_index x join pg_class i on i.oid = x.indexrelid
    join pg_class c on c.oid = x.indrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relname not like 'kysely_%'`.execute(db);
  const perRelation = Object.fromEntries(relations.rows.map((r) => [r.name, Number(r.bytes)]));
  return { rows: sum('rows'), bytes: sum('bytes'), dataBytes: sum('dataBytes'), freeBytes, perTable, perRelation };
}

/** Per-run Δ between two footprints, total and by table (tables that did not change are left out). */
export function perRunDelta(before: DatabaseFootprint, after: DatabaseFootprint, runs: number) {
  const tables: Record<string, { rows: number; bytes: number; dataBytes: number }> = {};
  for (const [name, a] of Object.entries(after.perTable)) {
    const b = before.perTable[name] ?? { rows: 0, bytes: 0, dataBytes: 0 };
    if (a.bytes === b.bytes && a.rows === b.rows) continue;
    tables[name] = { rows: (a.rows - b.rows) / runs, bytes: (a.bytes - b.bytes) / runs, dataBytes: (a.dataBytes - b.dataBytes) / runs };
  }
  const relations: Record<string, number> = {};
  for (const [name, a] of Object.entries(after.perRelation)) {
    const b = before.perRelation[name] ?? 0;
    if (a !== b) relations[name] = (a - b) / runs;
  }
  return {
    relations,
    rows: (after.rows - before.rows) / runs,
    bytes: (after.bytes - before.bytes) / runs,
    usedBytes: (after.bytes - after.freeBytes - (before.bytes - before.freeBytes)) / runs,
    dataBytes: (after.dataBytes - before.dataBytes) / runs,
    tables,
  };
}
