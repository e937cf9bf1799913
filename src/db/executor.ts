import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

/** What every repository function takes first: the database, or a transaction it joins. */
export type Db = Kysely<Database> | Transaction<Database>;

/** Runs `work` in the caller's transaction when given one, otherwise in a new transaction. */
export function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}
