import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window ends. */
  resetSeconds: number;
}

/**
 * Fixed windows (one minute unless told) counted in Postgres with a single atomic upsert, so
 * any number of API processes together admit at most `limit` per window (no read-then-write
 * race). The database clock decides the window, not each process's. Rejected calls count too:
 * a client hammering through its 429s does not get a fresh allowance by retrying faster.
 */
export async function hitRateLimit(db: Kysely<Database>, bucket: string, limit: number, windowSeconds = 60): Promise<RateLimitResult> {
  const row = await sql<{ hits: number; reset_seconds: number }>`
    insert into rate_limit_counters (bucket, window_start, hits)
    values (${bucket}, to_timestamp(floor(extract(epoch from now()) / ${windowSeconds}::int) * ${windowSeconds}::int), 1)
    on conflict (bucket, window_start) do update set hits = rate_limit_counters.hits + 1
    returning hits, ceil(extract(epoch from (window_start + make_interval(secs => ${windowSeconds}::int) - now())))::int as reset_seconds`.execute(db);
  const { hits, reset_seconds } = row.rows[0]!;
  if (hits === 1) {
    // First hit of a new window: sweep this bucket's old windows (cheap, once a window per bucket).
    await sql`delete from rate_limit_counters where bucket = ${bucket} and window_start < now() - make_interval(secs => ${Math.max(300, windowSeconds * 5)}::int)`.execute(db);
  }
  return { allowed: hits <= limit, limit, remaining: Math.max(0, limit - hits), resetSeconds: Math.max(1, reset_seconds) };
}
