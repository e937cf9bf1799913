import { CompiledQuery, type Compilable, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/** What every repository function takes first: the database, or a transaction it joins. */
export type Db = Kysely<Database> | Transaction<Database>;

/** Runs `work` in the caller's transaction when given one, otherwise in a new transaction. */
export function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

/**
 * A query whose shape never changes, compiled on its first call and then sent with each call's
 * values. Kysely otherwise builds and compiles the query tree on every call: on the hottest
 * look-ups (a run's bookkeeping read, an API key, an agent) that was most of their cost in the
 * API and the worker (issue 16). `build` must use its arguments as values only, never to choose
 * the query's shape; the first compile checks that each argument became a parameter of its own.
 * The SQL is kept per process, for every database handle: they all speak Postgres through the
 * same dialect, without plugins.
 */
export function compiledOnce<A extends unknown[], R>(build: (db: Db, ...args: A) => Compilable<R>): (db: Db, ...args: A) => Promise<R[]> {
  let compiled: { sql: string; slots: Array<{ arg: number } | { value: unknown }> } | undefined;
  return async (db, ...args) => {
    if (!compiled) {
      const marks = args.map((_, i) => `@@compiledOnce.arg${i}@@`);
      const query = build(db, ...(marks as A)).compile();
      if (marks.some((mark) => query.sql.includes(mark))) throw new Error('compiledOnce: an argument was written into the SQL text');
      const slots = query.parameters.map((value) => {
        const arg = marks.indexOf(value as string);
        if (arg >= 0) return { arg };
        if (typeof value === 'string' && value.includes('@@compiledOnce.arg')) throw new Error('compiledOnce: an argument was transformed into a parameter');
        return { value };
      });
      compiled = { sql: query.sql, slots };
    }
    const parameters = compiled.slots.map((slot) => ('arg' in slot ? args[slot.arg] : slot.value));
    const result = await db.executeQuery(CompiledQuery.raw(compiled.sql, parameters) as CompiledQuery<R>);
    return result.rows;
  };
}
