import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/** /metrics gauges never aggregate per scrape (#19.3): one process computes them per interval, every scrape reads the stored figures. */
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, postgres: true, config: { METRICS_GAUGE_INTERVAL_SECONDS: '1' } });
});
afterAll(async () => {
  await stack?.close();
});

const scrapeText = async () => (await fetch(`${stack.baseUrl}/metrics`)).text();
const value = (text: string, line: string) => Number(text.split('\n').find((l) => l.startsWith(`${line} `))?.slice(line.length + 1) ?? NaN);
const MARKER = 424_242;

describe('/metrics database gauges (#19.3)', () => {
  it('a scrape reads the stored figures instead of aggregating; the claimant of a stale interval recomputes them for everyone', async () => {
    const db = stack.database.db;
    const { apiKey } = await stack.newOrg('Metered org');
    const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'm', provider: { kind: 'echo' } } });
    expect(agent.status).toBe(201);
    // Figures no aggregate could produce, stored as just computed (claimed now: no process recomputes for a while).
    const marker = { runs: [{ status: 'completed', n: MARKER }], deliveries: [{ kind: 'endpoint', status: 'failed', n: MARKER }], creditsCharged: MARKER };
    await sql`update metric_snapshots set data = ${JSON.stringify(marker)}::jsonb, computed_at = now(), claimed_at = now() + interval '1 hour' where name = 'database_totals'`.execute(db);

    const first = await scrapeText();
    expect(value(first, 'aw_runs_by_status{status="completed"}')).toBe(MARKER);
    expect(value(first, 'aw_deliveries_by_outcome{kind="endpoint",status="failed"}')).toBe(MARKER);
    expect(value(first, 'aw_credits_charged')).toBe(MARKER);
    expect(value(first, 'aw_metrics_gauge_refreshes_total')).toBe(0);

    // The interval lapses: the next read claims it, recomputes in the background and stores real figures.
    await sql`update metric_snapshots set claimed_at = 'epoch' where name = 'database_totals'`.execute(db);
    const recomputed = await eventually(async () => {
      const text = await scrapeText();
      return value(text, 'aw_credits_charged') !== MARKER ? text : undefined;
    }, 'the gauges to be recomputed');
    const stored = await db.selectFrom('metric_snapshots').select(['data', 'computed_at']).where('name', '=', 'database_totals').executeTakeFirstOrThrow();
    const data = stored.data as { runs: { status: string; n: number }[]; creditsCharged: number };
    expect(data.runs.some((r) => r.n === MARKER)).toBe(false);
    const charged = await db.selectFrom('credit_entries').select(sql<string>`coalesce(-sum(amount), 0)`.as('n')).where('kind', '=', 'charge').executeTakeFirstOrThrow();
    console.log(`metrics: marker ${MARKER} served without aggregating, then recomputed: credits charged ${value(recomputed, 'aw_credits_charged')} (ledger now ${charged.n}), refreshes here ${value(recomputed, 'aw_metrics_gauge_refreshes_total')}`);
    expect(value(recomputed, 'aw_credits_charged')).toBeGreaterThanOrEqual(0);
    expect(value(recomputed, 'aw_metrics_gauge_refreshes_total')).toBeLessThanOrEqual(2);
  });
});
