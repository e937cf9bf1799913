import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { ownDatabase } from '../support/ownDatabase.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request } from '../support/stack.js';

/**
 * OpenTelemetry across processes: an api and a worker export to a local OTLP/HTTP (JSON)
 * receiver; one run's trace must link the HTTP request, the workflow start, the workflow, its
 * activity and the signed POST to the customer's endpoint, and the request's log lines carry
 * the trace id.
 */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  service: string;
}

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const spans: OtlpSpan[] = [];
let collector: Server;
let collectorUrl: string;
let receiver: Receiver;

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: Omit<OtlpSpan, 'service'>[] }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ ...span, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
  receiver = await startReceiver();
});

afterAll(async () => {
  collector?.close();
  await receiver?.close();
});

it('one trace links POST /v1/agents/{id}/runs → workflow start → agentRun → runToEnd (the agent) → the signed POST, and the request logs carry its trace_id', async () => {
  const sharedUrl = inject('sharedPostgresUrl');
  if (!sharedUrl) throw new Error('this test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  // Its worker sweeps its database for unstarted runs: not the one other test files' stacks share.
  const own = await ownDatabase(sharedUrl);
  const port = await freePort();
  const env = {
    DATABASE_URL: own.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `otel-${randomUUID()}`,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    ADMIN_TOKEN,
    SECRETS_KEY: randomBytes(32).toString('base64'),
    METRICS_PORT: '0',
    LOG_LEVEL: 'info',
    OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
    OTEL_BSP_SCHEDULE_DELAY: '200',
  };
  const api = spawnEntry('src/main.ts', { ...env, PORT: String(port), HOST: '127.0.0.1' });
  const worker = spawnEntry('src/worker.ts', env);
  const base = `http://127.0.0.1:${port}`;
  let runId: string;
  try {
    await eventually(async () => {
      for (const child of [api, worker]) if (child.exitCode !== null) throw new Error(`exited: ${child.output()}`);
      const ready = await request(base, '/readyz').catch(() => undefined);
      return ready?.status === 200 && worker.output().includes('worker running') ? true : undefined;
    }, 'api and worker', 60_000);

    const org = await request(base, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Traced', credits: 1_000 } });
    const key: string = org.body.api_key.key;
    const agent = (await request(base, '/v1/agents', { key, body: { name: 'traced agent', provider: { kind: 'echo' } } })).body;
    await request(base, '/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'] } });
    const run = await request(base, `/v1/agents/${agent.id}/runs`, { key, body: { message: 'follow me' } });
    expect(run.status).toBe(202);
    runId = run.body.run_id;

    const delivered = await eventually(
      async () => receiver.received.find((r) => r.body.includes(runId) && JSON.parse(r.body).type === 'run.completed'),
      'the run.completed delivery',
      60_000,
    );
    // The receiver was handed the trace too (W3C traceparent), signed as usual.
    expect(delivered.headers['webhook-signature']).toBeDefined();
    const traceparent = String(delivered.headers.traceparent ?? '');
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const traceId = traceparent.split('-')[1]!;

    const byId = new Map<string, OtlpSpan>();
    const chainOf = (span: OtlpSpan): OtlpSpan[] => {
      const chain = [span];
      let current = span;
      while (current.parentSpanId && byId.has(current.parentSpanId)) {
        current = byId.get(current.parentSpanId)!;
        chain.push(current);
      }
      return chain;
    };
    // Spans arrive in batches from two processes: wait until the POST's ancestry reaches the request.
    const chains = await eventually(async () => {
      byId.clear();
      for (const s of spans.filter((x) => x.traceId === traceId)) byId.set(s.spanId, s);
      const post = [...byId.values()].find((s) => s.spanId === traceparent.split('-')[2]);
      const runToEnd = [...byId.values()].find((s) => s.name === 'RunActivity:runToEnd');
      if (!post || !runToEnd) return undefined;
      const postChain = chainOf(post);
      const agentChain = chainOf(runToEnd);
      return postChain.at(-1)!.parentSpanId || agentChain.at(-1)!.parentSpanId ? undefined : { postChain, agentChain };
    }, 'the whole trace at the collector', 30_000);

    const names = (chain: OtlpSpan[]) => chain.map((s) => s.name).reverse();
    // Root first: the API request, its workflow start, the workflow, then the activity.
    expect(names(chains.agentChain)).toEqual(['POST /v1/agents/:id/runs', 'StartWorkflow:agentRun', 'RunWorkflow:agentRun', 'StartActivity:runToEnd', 'RunActivity:runToEnd']);
    const postChain = names(chains.postChain);
    expect(postChain.slice(0, 3)).toEqual(['POST /v1/agents/:id/runs', 'StartWorkflow:agentRun', 'RunWorkflow:agentRun']);
    // …through the completion event's delivery workflow to the activity that sends it.
    expect(postChain).toContain('RunWorkflow:eventDelivery');
    expect(postChain.slice(-2)).toEqual(['RunActivity:deliverEvent', 'POST']);
    const post = chains.postChain[0]!;
    expect(post.kind).toBe(3); // CLIENT
    expect(post.attributes?.find((a) => a.key === 'server.origin')?.value.stringValue).toBe(new URL(receiver.url).origin);
    expect(chains.postChain.at(-1)!.service).toBe('agent-webhooks-api');
    expect(post.service).toBe('agent-webhooks-worker');

    // Every log line of the traced request carries its trace id.
    const requestLines = api
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => l.route === '/v1/agents/:id/runs' || l.run_id === runId);
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(line.trace_id).toBe(traceId);
  } finally {
    api.kill('SIGTERM');
    worker.kill('SIGTERM');
    await Promise.all([exitOf(api), exitOf(worker)]);
    await own.drop();
  }
});
