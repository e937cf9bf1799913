import type pg from 'pg';

/** Named statements a connection prepares at most; beyond that its statements go unnamed. */
export const PREPARED_PER_CONNECTION = 200;

type Query = (...args: unknown[]) => unknown;

/**
 * Makes a connection send each parameterised statement as a named prepared statement, so
 * Postgres parses, analyses and plans it once per connection instead of on every call. Kysely
 * keeps a statement's text fixed per query shape (values travel as parameters), so a connection
 * prepares a few dozen. Measured on the bench's async run (issue 16): Postgres CPU per run
 * 5.6–7.8 ms → 3.1–3.5 ms: parsing and planning (the big CTEs above all: a trigger's accept, a
 * run's charge) were about half of Postgres' work per run.
 *
 * A schema change under a running process (a rolling deploy's migration adding a column) makes
 * Postgres refuse a prepared statement whose result type changed ("cached plan must not change
 * result type"): the statement is forgotten and, outside a transaction, sent again at once (the
 * refusal comes before it runs); inside one, the error ends the transaction as any failure does,
 * and the next use prepares the new shape.
 *
 * Off with DATABASE_PREPARED_STATEMENTS=false, for a pooler in transaction mode that cannot carry
 * prepared statements between server connections (PgBouncer before 1.21, or without
 * max_prepared_statements).
 */
export function prepareStatements(client: pg.Client, limit = PREPARED_PER_CONNECTION): void {
  const send = client.query.bind(client) as Query;
  const names = new Map<string, string>();
  let named = 0;
  let inTransaction = false;
  (client as unknown as { query: Query }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text !== 'string') return send(...args);
    inTransaction = transactionAfter(text, inTransaction);
    if (args.length !== 2 || !Array.isArray(values) || values.length === 0) return send(...args);
    let name = names.get(text);
    if (!name) {
      if (named >= limit) return send(text, values);
      name = `aw${named++}`;
      names.set(text, name);
    }
    const outside = !inTransaction;
    return (send({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
      if (!resultTypeChanged(err)) throw err;
      names.delete(text);
      if (outside) return send(text, values);
      throw err;
    });
  };
}

/** Whether the connection is inside a transaction once `text` is sent (Kysely's own BEGIN/COMMIT/ROLLBACK). */
function transactionAfter(text: string, inTransaction: boolean): boolean {
  const head = text.trimStart().slice(0, 24).toLowerCase();
  if (head.startsWith('begin') || head.startsWith('start transaction')) return true;
  if (/^rollback\s+to\b/.test(head)) return inTransaction;
  if (head.startsWith('commit') || head.startsWith('rollback') || head.startsWith('end') || head.startsWith('abort')) return false;
  return inTransaction;
}

function resultTypeChanged(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type');
}
