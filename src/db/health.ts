import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export async function databaseReachable(db: Kysely<Database>, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
    });
    await Promise.race([sql`select 1`.execute(db), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// SQLSTATE: 08xxx connection exceptions; server shutting down or starting; out of connections.
const UNAVAILABLE_SQLSTATES = /^(08...|57P01|57P02|57P03|53300)$/;
// node-postgres reports a lost or never-made connection with these texts and no code.
const UNREACHABLE_TEXTS = /Connection terminated|timeout exceeded when trying to connect|not queryable|Connection refused/i;

/**
 * True when a query failed because the database is unreachable, restarting or full, not
 * because of the query: the caller gets a 503 with Retry-After instead of a 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || UNAVAILABLE_SQLSTATES.test(code))) return true;
  return UNREACHABLE_TEXTS.test(err.message);
}
