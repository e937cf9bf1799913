import { randomUUID } from 'node:crypto';
import type { KyselyPlugin, PluginTransformQueryArgs, RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointSecretOwner } from '../../src/domain/deliveryPayload.js';
import type { SecretBox } from '../../src/secrets/box.js';
import { request, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** Counts the SELECTs that read a table, as the repository layer sends them. */
function selectCounter(table: string): KyselyPlugin & { count: number } {
  const counter = {
    count: 0,
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const node = args.node as { kind: string; from?: { froms: { kind: string; table?: { identifier: { name: string } } }[] } };
      if (node.kind === 'SelectQueryNode' && node.from?.froms.some((f) => f.table?.identifier.name === table)) counter.count += 1;
      return args.node;
    },
    async transformResult(args: { result: unknown }) {
      return args.result as never;
    },
  };
  return counter;
}

describe('repositories', () => {
  it('creates an endpoint and its first signing secret in one transaction (enabled or not)', async () => {
    const { orgId, apiKey } = await stack.newOrg('Endpoint transaction org');
    // A box that cannot seal: storing the new endpoint's secret fails after the endpoint row was written.
    const broken: SecretBox = { ...stack.secrets, seal: () => { throw new Error('sealing is down'); } };
    const api = await stack.startSecondApi({ secrets: broken });
    try {
      for (const enabled of [true, false]) {
        const url = `http://127.0.0.1:9/never-${enabled}`;
        const refused = await request(api.baseUrl, '/v1/endpoints', { key: apiKey, body: { url, events: ['run.completed'], enabled } });
        expect(refused.status).toBe(500);
        const rows = await stack.database.db.selectFrom('endpoints').select('id').where('org_id', '=', orgId).where('url', '=', url).execute();
        expect(rows).toHaveLength(0); // rolled back with the secret: no endpoint without a secret
      }
    } finally {
      api.close();
    }

    // Owner control: the same request with a working box stores both.
    const created = await stack.api('/v1/endpoints', { method: 'POST', key: apiKey, body: { url: 'http://127.0.0.1:9/ok', events: ['run.completed'] } });
    expect(created.status).toBe(201);
    const secrets = await stack.database.db
      .selectFrom('signing_secrets')
      .select('id')
      .where('org_id', '=', orgId)
      .where('owner', '=', endpointSecretOwner(created.body.id))
      .execute();
    expect(secrets).toHaveLength(1);
  });

  it('lists a page of endpoints with each one\'s 24-hour health read in one query', async () => {
    const { orgId, apiKey } = await stack.newOrg('Endpoint health org');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await stack.api('/v1/endpoints', { method: 'POST', key: apiKey, body: { url: `http://127.0.0.1:9/h${i}`, events: ['run.completed'] } });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    // Endpoint i gets i succeeded and 1 failed delivery (the last one none at all but its failure).
    const now = new Date();
    for (const [i, endpointId] of ids.entries()) {
      const statuses = [...Array.from({ length: i }, () => 'succeeded' as const), 'failed' as const];
      for (const status of statuses) {
        await stack.database.db
          .insertInto('deliveries')
          .values({ id: randomUUID(), org_id: orgId, kind: 'endpoint', endpoint_id: endpointId, url: 'http://127.0.0.1:9/', message_id: `msg_${randomUUID()}`, status, updated_at: now })
          .execute();
      }
    }

    const counter = selectCounter('deliveries');
    const api = await stack.startSecondApi({ db: stack.database.db.withPlugin(counter) });
    try {
      const page = await request(api.baseUrl, '/v1/endpoints', { key: apiKey });
      expect(page.status).toBe(200);
      const health = new Map((page.body.data as { id: string; health: Record<string, number | null> }[]).map((e) => [e.id, e.health]));
      for (const [i, endpointId] of ids.entries()) {
        expect(health.get(endpointId)).toMatchObject({ deliveries_24h: i + 1, succeeded_24h: i, failed_24h: 1, success_rate_24h: i / (i + 1) });
      }
      console.log(`deliveries queries for a page of ${ids.length} endpoints: ${counter.count}`);
      expect(counter.count).toBe(1);

      // The single endpoint reads the same figures.
      const one = await request(api.baseUrl, `/v1/endpoints/${ids[2]}`, { key: apiKey });
      expect(one.body.health).toMatchObject({ deliveries_24h: 3, succeeded_24h: 2, failed_24h: 1 });
    } finally {
      api.close();
    }
  });

  it('stamps what a router writes, token-URL use included, with the app\'s clock', async () => {
    const { apiKey } = await stack.newOrg('Clock org');
    const fixed = new Date('2031-02-03T04:05:06.000Z');
    const api = await stack.startSecondApi({ clock: () => fixed });
    try {
      const agent = await request(api.baseUrl, '/v1/agents', { key: apiKey, body: { name: 'Clocked' } });
      expect(agent.status).toBe(201);
      expect(agent.body.updated_at).toBe(fixed.toISOString());

      const webhook = await request(api.baseUrl, `/v1/agents/${agent.body.id}/webhooks`, { key: apiKey, body: { name: 'Clocked hook' } });
      expect(webhook.status).toBe(201);
      expect(webhook.body.updated_at).toBe(fixed.toISOString());
      const called = await request(api.baseUrl, `/api/webhook/${webhook.body.token}`, { body: { message: 'hi' }, headers: { Prefer: 'respond-async' } });
      expect(called.status).toBe(202);
      const hook = await stack.database.db.selectFrom('inbound_webhooks').select('last_used_at').where('id', '=', webhook.body.id).executeTakeFirstOrThrow();
      expect(hook.last_used_at?.toISOString()).toBe(fixed.toISOString());

      const trigger = await request(api.baseUrl, `/v1/agents/${agent.body.id}/triggers`, { key: apiKey, body: { name: 'Clocked trigger', scheme: 'none', message_template: 'Hello {{payload.hello}}' } });
      expect(trigger.status).toBe(201);
      const invoked = await request(api.baseUrl, new URL(trigger.body.invoke_url).pathname, { body: { hello: 'world' } });
      expect(invoked.status).toBe(202);
      const row = await stack.database.db.selectFrom('triggers').select('last_invoked_at').where('id', '=', trigger.body.id).executeTakeFirstOrThrow();
      expect(row.last_invoked_at?.toISOString()).toBe(fixed.toISOString());
    } finally {
      api.close();
    }
  });
});
