import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRunCredits, holdCredits, readWallet } from '../../src/db/credits.js';
import type { Database } from '../../src/db/schema.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * #19.2: completing and accepting runs lock the org row only as plain UPDATEs do (FOR NO KEY
 * UPDATE), which never conflicts with the FOR KEY SHARE every foreign-key insert naming the org
 * takes; so while a completion's transaction is open, the org's inserts (runs, events, ledger)
 * go on. The control holds FOR UPDATE, as completeRun once did, and the same insert waits.
 */
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, postgres: true });
});
afterAll(async () => {
  await stack?.close();
});

class Rollback extends Error {}

/** Holds `lock` in an open transaction and tries an org-naming insert meanwhile (lock_timeout 1.5 s). */
async function insertWhileHeld(orgId: string, agentId: string, lock: (trx: Transaction<Database>) => Promise<void>) {
  const db = stack.database.db;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held!: () => void;
  const isHeld = new Promise<void>((r) => (held = r));
  const holder = db
    .transaction()
    .execute(async (trx) => {
      await lock(trx);
      held();
      await released;
      throw new Rollback();
    })
    .catch((err: unknown) => {
      if (!(err instanceof Rollback)) throw err;
    });
  await isHeld;
  const started = performance.now();
  const outcome = await db
    .transaction()
    .execute(async (trx) => {
      await sql`set local lock_timeout = '1500ms'`.execute(trx);
      const runId = randomUUID();
      await sql`insert into runs (id, org_id, agent_id, source, status, message) values (${runId}::uuid, ${orgId}::uuid, ${agentId}::uuid, 'api', 'processing', 'x')`.execute(trx);
      await sql`insert into events (id, org_id, agent_id, run_id, type, data, dedupe_key) values (gen_random_uuid(), ${orgId}::uuid, ${agentId}::uuid, ${runId}::uuid, 'run.started', '{}', ${`lock-${runId}`})`.execute(trx);
      return 'inserted';
    })
    .catch((err: { code?: string }) => (err.code === '55P03' ? 'lock timeout' : `error ${err.code}`));
  const waitedMs = performance.now() - started;
  release();
  await holder;
  return { outcome, waitedMs };
}

describe('org row locks (#19.2)', () => {
  it('an open completion (capture) or acceptance (hold) never blocks the org\'s foreign-key inserts; FOR UPDATE would', async () => {
    const { orgId, apiKey } = await stack.newOrg('Locked org');
    const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'l', provider: { kind: 'echo' } } });
    expect(agent.status).toBe(201);
    const agentId = agent.body.id as string;
    const db = stack.database.db;
    // A run holding 10 credits, as accepting it left it.
    const runId = randomUUID();
    await db.transaction().execute(async (trx) => {
      await holdCredits(trx, orgId, 10);
      await sql`insert into runs (id, org_id, agent_id, source, status, message, credits_held) values (${runId}::uuid, ${orgId}::uuid, ${agentId}::uuid, 'api', 'processing', 'held', 10)`.execute(trx);
    });
    const before = await readWallet(db, orgId);

    const capture = await insertWhileHeld(orgId, agentId, async (trx) => {
      const captured = await captureRunCredits(trx, { id: runId, org_id: orgId }, 3);
      expect(captured.captured).toBe(true);
    });
    const hold = await insertWhileHeld(orgId, agentId, (trx) => holdCredits(trx, orgId, 5));
    const control = await insertWhileHeld(orgId, agentId, async (trx) => {
      await sql`select id from orgs where id = ${orgId}::uuid for update`.execute(trx);
    });
    console.log(
      `org row locks: insert beside an open capture ${capture.outcome} after ${capture.waitedMs.toFixed(0)} ms, beside an open hold ${hold.outcome} after ${hold.waitedMs.toFixed(0)} ms; ` +
        `control (FOR UPDATE): ${control.outcome} after ${control.waitedMs.toFixed(0)} ms`,
    );
    expect(capture.outcome).toBe('inserted');
    expect(hold.outcome).toBe('inserted');
    expect(control.outcome).toBe('lock timeout');
    // The held transactions rolled back: the wallet is as it was.
    expect(await readWallet(db, orgId)).toEqual(before);
  });
});
