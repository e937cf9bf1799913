import { sql, type Selectable, type SelectQueryBuilder } from 'kysely';

export interface Page {
  page: number;
  limit: number;
}

/**
 * One page of a filtered query, newest first (created_at, then id), with the total count.
 * Every list route goes through this, so pagination behaves the same everywhere.
 */
export async function newestFirstPage<DB, TB extends keyof DB & string, O>(
  base: SelectQueryBuilder<DB, TB, O>,
  page: Page,
): Promise<{ rows: Selectable<DB[TB]>[]; total: number }> {
  const [count, rows] = await Promise.all([
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow() as unknown as Promise<{ n: string }>,
    base
      .selectAll()
      .orderBy(sql`created_at desc, id desc`)
      .offset((page.page - 1) * page.limit)
      .limit(page.limit)
      .execute() as unknown as Promise<Selectable<DB[TB]>[]>,
  ]);
  return { rows, total: Number(count.n) };
}
