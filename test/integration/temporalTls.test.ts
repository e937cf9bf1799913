import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { ownDatabase, type CreatedDatabase } from '../support/ownDatabase.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request } from '../support/stack.js';
import { makeTestPki, startGrpcTlsProxy, type GrpcTlsProxy, type TestPki } from '../support/tlsProxy.js';

/**
 * A secured cluster: the Temporal dev server is reachable only through a TLS-terminating gRPC
 * proxy (nginx) that demands a client certificate. The api and worker processes reach it with
 * TEMPORAL_TLS_* settings; wrong material stops them with one line.
 */
const ADMIN_TOKEN = `admin-${randomUUID()}`;
let pki: TestPki;
let proxy: GrpcTlsProxy;
let receiver: Receiver;
let databaseUrl: string;
let own: CreatedDatabase | undefined;

beforeAll(async () => {
  const shared = inject('sharedPostgresUrl');
  if (!shared) throw new Error('this test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  // Its workers sweep their database for unstarted runs: not the one other test files' stacks share.
  own = await ownDatabase(shared);
  databaseUrl = own.url;
  pki = makeTestPki();
  proxy = await startGrpcTlsProxy(pki, inject('temporalAddress'));
  receiver = await startReceiver();
});

afterAll(async () => {
  await proxy?.stop();
  await receiver?.close();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
  await own?.drop();
});

function env(extra: Record<string, string>) {
  return {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_CA: pki.ca,
    TEMPORAL_TLS_CERT: pki.clientCert,
    TEMPORAL_TLS_KEY: pki.clientKey,
    TEMPORAL_TLS_SERVER_NAME: 'temporal.test',
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    ADMIN_TOKEN,
    LOG_LEVEL: 'info',
    METRICS_PORT: '0',
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
    ...extra,
  };
}

async function stop(child: ReturnType<typeof spawnEntry>) {
  if (child.exitCode === null) child.kill('SIGTERM');
  await exitOf(child);
}

describe('Temporal behind mutual TLS', () => {
  it('api and worker reach Temporal only through the proxy: a run completes and its delivery arrives', { timeout: 180_000 }, async () => {
    const taskQueue = `tls-${randomUUID()}`;
    const port = await freePort();
    const api = spawnEntry('src/main.ts', env({ TEMPORAL_TASK_QUEUE: taskQueue, PORT: String(port), HOST: '127.0.0.1' }));
    const worker = spawnEntry('src/worker.ts', env({ TEMPORAL_TASK_QUEUE: taskQueue }));
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually(async () => {
        for (const child of [api, worker]) if (child.exitCode !== null) throw new Error(`exited: ${child.output()}`);
        const ready = await request(base, '/readyz').catch(() => undefined);
        return ready?.status === 200 && worker.output().includes('worker running') ? true : undefined;
      }, 'api ready and worker polling through the proxy', 60_000);
      expect(worker.output()).toContain('"connection":"tls + client certificate"');

      const org = await request(base, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Secured', credits: 1_000 } });
      const key: string = org.body.api_key.key;
      const agent = (await request(base, '/v1/agents', { key, body: { name: 'tls agent', provider: { kind: 'echo' } } })).body;
      await request(base, '/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'] } });
      const run = await request(base, `/v1/agents/${agent.id}/runs`, { key, body: { message: 'over mTLS' } });
      expect(run.status).toBe(202);
      const done = await eventually(async () => {
        const status = (await request(base, `/v1/runs/${run.body.run_id}`, { key })).body;
        return status.status === 'completed' ? status : undefined;
      }, 'the run to complete', 60_000);
      expect(done.status).toBe('completed');
      const delivery = await eventually(async () => {
        return receiver.received.map((r) => JSON.parse(r.body)).find((b) => b.type === 'run.completed' && b.data.run_id === run.body.run_id);
      }, 'the run.completed delivery');
      expect(delivery.data.run_id).toBe(run.body.run_id);

      // Both processes went through the proxy with a verified client certificate.
      const log = proxy.accessLog();
      expect(log).toMatch(/WorkflowService\/StartWorkflowExecution status=200 verify=SUCCESS auth=absent/);
      expect(log).toMatch(/WorkflowService\/PollWorkflowTaskQueue status=200 verify=SUCCESS/);
    } finally {
      await Promise.all([stop(api), stop(worker)]);
    }
  });

  it('a client certificate the proxy does not trust stops the worker with one line', async () => {
    const worker = spawnEntry('src/worker.ts', env({ TEMPORAL_TLS_CERT: pki.otherClientCert, TEMPORAL_TLS_KEY: pki.otherClientKey, TEMPORAL_TASK_QUEUE: `tls-${randomUUID()}` }));
    const { code } = await exitOf(worker);
    expect(code).toBe(78);
    const lines = worker.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Temporal at ${proxy.address} refused the TLS handshake \\(.+\\): check TEMPORAL_TLS_CA`));
  });

  it('a CA that did not sign the server certificate stops the api and the worker with one line', async () => {
    const port = String(await freePort());
    await Promise.all(
      ['src/main.ts', 'src/worker.ts'].map(async (entry) => {
        const child = spawnEntry(entry, env({ TEMPORAL_TLS_CA: pki.otherCa, PORT: port, HOST: '127.0.0.1' }));
        const { code } = await exitOf(child);
        const lines = child.output().trim().split('\n').filter((l) => !l.startsWith('{'));
        expect({ entry, code, lines: lines.length }).toEqual({ entry, code: 78, lines: 1 });
        expect(lines[0]).toMatch(/refused the TLS handshake \(.+\)/);
      }),
    );
  }, 180_000);

  it('TEMPORAL_API_KEY reaches the cluster as an authorization header, and is never logged', { timeout: 120_000 }, async () => {
    const apiKey = `tc-key-${randomUUID()}`;
    const worker = spawnEntry('src/worker.ts', env({ TEMPORAL_API_KEY: apiKey, TEMPORAL_TASK_QUEUE: `tls-${randomUUID()}` }));
    try {
      await eventually(async () => {
        if (worker.exitCode !== null) throw new Error(`exited: ${worker.output()}`);
        return worker.output().includes('worker running') ? true : undefined;
      }, 'the worker to poll with an API key', 60_000);
      await eventually(async () => (/status=200 verify=SUCCESS auth=present/.test(proxy.accessLog()) ? true : undefined), 'an authorized poll in the proxy log');
      expect(worker.output()).toContain('"connection":"tls + client certificate + api key"');
    } finally {
      await stop(worker);
    }
    expect(worker.output()).not.toContain(apiKey);
    expect(proxy.accessLog()).not.toContain(apiKey);
  });

  it('unreadable or mismatched material stops the process with one line naming the variable', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ TEMPORAL_TLS_CERT: '/nonexistent/client.pem' }, /^invalid configuration: TEMPORAL_TLS_CERT \(\/nonexistent\/client\.pem\) cannot be read \(ENOENT\)$/],
      [{ TEMPORAL_TLS_KEY: pki.otherClientKey }, /^invalid configuration: TEMPORAL_TLS_KEY \(.+\) is not the private key of the certificate in TEMPORAL_TLS_CERT$/],
      [{ TEMPORAL_TLS_CA: pki.clientKey }, /^invalid configuration: TEMPORAL_TLS_CA is not a PEM certificate$/],
      [{ TEMPORAL_TLS_KEY: '' , TEMPORAL_TLS_CERT: pki.clientCert }, /^invalid configuration: TEMPORAL_TLS_KEY is required when TEMPORAL_TLS_CERT is set/],
    ];
    // Each process stops before it connects anywhere: they can all run at once.
    await Promise.all(
      cases.flatMap(([extra, expected]) =>
        ['src/main.ts', 'src/worker.ts'].map(async (entry) => {
          const child = spawnEntry(entry, env(extra));
          const { code } = await exitOf(child);
          const output = child.output().trim();
          expect({ entry, code, output }).toEqual({ entry, code: 78, output: expect.stringMatching(expected) });
          expect(output.split('\n')).toHaveLength(1);
        }),
      ),
    );
  }, 180_000);
});
