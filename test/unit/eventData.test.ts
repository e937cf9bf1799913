import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { compactEventData, expandEvents } from '../../src/db/events.js';
import type { Database, EventRow } from '../../src/db/schema.js';

const runId = '0190f0aa-0000-7000-8000-000000000001';
const agentId = '0190f0aa-0000-7000-8000-000000000002';
const text = 'a reply long enough to be worth referencing instead of storing it again';

describe('stored event data', () => {
  it('leaves out what the row and its run already hold, and names it', () => {
    const data = { run_id: runId, agent: { id: agentId, name: 'Echo' }, agent_id: agentId, content: text, result: text, status: 'completed' };
    const stored = compactEventData(data, { runId, agentId }, { message: 'hi', result: text });
    expect(stored).toEqual({ agent: { name: 'Echo' }, status: 'completed', $d: 'raicR' });
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(data).length / 3);
  });

  it('stores data whole when nothing matches', () => {
    const data = { run_id: 'another', balance: 5 };
    expect(compactEventData(data, { runId, agentId: null })).toBe(data);
  });

  it('reads back as emitted', async () => {
    const data = { run_id: runId, agent: { id: agentId, name: 'Echo' }, agent_id: agentId, conversation_id: null, source: 'api' };
    const stored = compactEventData(data, { runId, agentId });
    const row = { id: 'e', org_id: 'o', agent_id: agentId, run_id: runId, type: 'run.started', data: stored, dedupe_key: 'k', created_at: new Date() } as EventRow;
    // No text referenced: expanding needs no query (a database that cannot answer proves it).
    const [expanded] = await expandEvents({} as Kysely<Database>, [row]);
    expect(expanded!.data).toEqual(data);
  });
});
