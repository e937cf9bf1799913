import { sql, type Kysely, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/**
 * Keyset pagination shared by every list: newest first on (created_at desc, id desc), with an
 * opaque cursor that names the last item of a page. A page read by cursor is one index range
 * scan of `limit + 1` rows whatever the table's size, and walking every page returns each row
 * that existed before the walk exactly once even while new rows arrive (they sort before the
 * cursor, or after it and are simply new).
 *
 * `page` stays for compatibility (seed 002) with its cost bounded: the total is exact only up to
 * TOTAL_CAP (beyond, `total` is TOTAL_CAP and `total_capped` is true) and page numbers reach only
 * the first TOTAL_CAP items (deeper pages are refused: follow `next_cursor`).
 */
type Db = Kysely<Database> | Transaction<Database>;

/** Exact totals up to this many items; the deepest item `page` can reach. */
export const TOTAL_CAP = 10_000;

export interface PageRequest {
  limit: number;
  /** 1-based; ignored (must be 1) when a cursor is given. */
  page?: number;
  /** An opaque `next_cursor` from a previous page. */
  cursor?: string | null;
  /** The id of the last item of a previous page (Stripe-style), resolved within the same list. */
  startingAfter?: string | null;
}

export interface PageInfo {
  /** The page number, or null when the page was read by cursor. */
  page: number | null;
  limit: number;
  /** Items across all pages, exact up to TOTAL_CAP; TOTAL_CAP when `total_capped`. */
  total: number;
  /** True when there are more than TOTAL_CAP items (then `total` = TOTAL_CAP). */
  total_capped: boolean;
  /** ceil(total / limit), over the capped total: the pages reachable by number. */
  pages: number;
  /** Whether items follow this page. */
  has_more: boolean;
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

export interface Page<R> {
  rows: R[];
  pagination: PageInfo;
}

/** A cursor, starting_after or page the list cannot serve; the API answers 422. */
export class InvalidPageRequest extends Error {
  override name = 'InvalidPageRequest';
  constructor(
    readonly field: 'cursor' | 'starting_after' | 'page',
    message: string,
  ) {
    super(message);
  }
}

interface Position {
  /** created_at, microsecond-exact, as Postgres prints it in UTC. */
  at: string;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(position: Position): string {
  return Buffer.from(`${position.at}|${position.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  const [at, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length || !at || !id || !TIMESTAMP.test(at) || !UUID.test(id)) {
    throw new InvalidPageRequest('cursor', 'is not a cursor this API issued (use pagination.next_cursor)');
  }
  return { at, id };
}

/** Whether `page`/`limit` stay within the items page numbers may reach (also checked by the API schema). */
export function pageWithinCap(page: number, limit: number): boolean {
  return (page - 1) * limit < TOTAL_CAP;
}

/**
 * One page of `base` (a filtered selectFrom of a table with `id` and `created_at`), newest
 * first. `base` must name the table's columns unqualified (no joins).
 */
export async function keysetPage<DB, TB extends keyof DB & string, Row>(
  db: Db,
  base: SelectQueryBuilder<DB, TB, object>,
  request: PageRequest,
): Promise<Page<Row>> {
  const { limit } = request;
  const page = request.page ?? 1;
  const byCursor = Boolean(request.cursor || request.startingAfter);
  if (byCursor && page !== 1) throw new InvalidPageRequest('page', 'cannot be combined with a cursor');
  if (!pageWithinCap(page, limit)) {
    throw new InvalidPageRequest('page', `page numbers reach the first ${TOTAL_CAP} items; follow pagination.next_cursor beyond`);
  }
  // Untyped from here: the columns every paginated table has.
  const q = base as unknown as SelectQueryBuilder<any, any, any>;

  let after: Position | undefined;
  if (request.cursor) after = decodeCursor(request.cursor);
  else if (request.startingAfter) {
    if (!UUID.test(request.startingAfter)) throw new InvalidPageRequest('starting_after', 'must be the id of an item of this list');
    const found = await q.select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('at')).where('id', '=', request.startingAfter).executeTakeFirst();
    if (!found) throw new InvalidPageRequest('starting_after', 'no such item in this list');
    after = { at: (found as { at: string }).at, id: request.startingAfter };
  }

  let rowsQuery = q
    .selectAll()
    .select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('__cursor_at'))
    .orderBy(sql`created_at desc, id desc`)
    .limit(limit + 1);
  if (after) rowsQuery = rowsQuery.where(sql<boolean>`(created_at, id) < (${after.at}::timestamptz, ${after.id}::uuid)`);
  else rowsQuery = rowsQuery.offset((page - 1) * limit);

  // The total is counted over at most TOTAL_CAP + 1 index entries: bounded whatever the table's size.
  const capped = q.select(sql`1`.as('one')).limit(TOTAL_CAP + 1);
  const [fetched, counted] = await Promise.all([
    rowsQuery.execute() as Promise<(Row & { __cursor_at: string; id: string })[]>,
    sql<{ n: number }>`select count(*)::int as n from (${capped}) as capped`.execute(db),
  ]);
  const n = counted.rows[0]?.n ?? 0;
  const hasMore = fetched.length > limit;
  const rows = fetched.slice(0, limit);
  const last = rows.at(-1);
  const nextCursor = hasMore && last ? encodeCursor({ at: last.__cursor_at, id: last.id }) : null;
  for (const row of rows) delete (row as { __cursor_at?: string }).__cursor_at;
  const total = Math.min(n, TOTAL_CAP);
  return {
    rows: rows as Row[],
    pagination: {
      page: byCursor ? null : page,
      limit,
      total,
      total_capped: n > TOTAL_CAP,
      pages: Math.ceil(total / limit),
      has_more: hasMore,
      next_cursor: nextCursor,
    },
  };
}

/** The pagination of a list the caller may not see (an agent outside its key's scope): empty. */
export function emptyPage(request: PageRequest): PageInfo {
  const byCursor = Boolean(request.cursor || request.startingAfter);
  return { page: byCursor ? null : (request.page ?? 1), limit: request.limit, total: 0, total_capped: false, pages: 0, has_more: false, next_cursor: null };
}
