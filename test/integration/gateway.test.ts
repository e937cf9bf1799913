import type { InterceptingCall, Interceptor } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { agentRun, eventDelivery } from '../../workflows/index.js';
import { deliveriesTaskQueue } from '../../workflows/taskQueues.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkEventData, emit } from '../../src/domain/eventTypes.js';
import { expandEvents } from '../../src/db/events.js';
import { callbackRetryWorkflowId, callbackWorkflowId, eventWorkflowId, redeliverWorkflowId, runWorkflowId, slotHolderId } from '../../workflows/ids.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, request, startTestStack, type TestStack } from '../support/stack.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { createServer, connect as connectTcp, type Socket } from 'node:net';
import { freePort } from '../../src/temporal/devServer.js';
import { EngineDeadlineExceeded, retryWithinDeadline, withinDeadline } from '../../src/temporal/deadline.js';

let stack: TestStack;
let key: string;
let orgId: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key, orgId } = await stack.newOrg('Gateway org'));
  agentId = (await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } })).body.id;
});
afterAll(() => stack?.close());

/** A client whose every gRPC call to the frontend is recorded by method name (after retries: each one sent). */
async function countingClient(address: string) {
  const calls: string[] = [];
  const count: Interceptor = (options, nextCall) => {
    calls.push(options.method_definition.path.split('/').pop()!);
    return nextCall(options) as InterceptingCall;
  };
  const connection = await Connection.connect({ address, interceptors: [retryWithinDeadline(), count] }); // retries as src/main.ts
  return { client: new Client({ connection, namespace: 'default' }), connection, calls };
}

async function tokenUrl(body: Record<string, unknown> = {}) {
  const created = await stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: 'Gateway hook', rate_limit_per_minute: 1000, ...body } });
  expect(created.status).toBe(201);
  return created.body as { id: string; token: string };
}

describe('workflow ids', () => {
  it('are built by the pure functions of workflows/ids.ts', () => {
    const id = '7f1c1c8e-5f7a-4c55-9f0e-0d2b1a4e9c11';
    expect(runWorkflowId(id)).toBe(`run-${id}`);
    expect(eventWorkflowId(id)).toBe(`event-${id}`);
    expect(callbackWorkflowId(id)).toBe(`callback-${id}`);
    expect(redeliverWorkflowId(id, 3)).toBe(`redeliver-${id}-3`);
    expect(callbackRetryWorkflowId(id, 5)).toBe(`callback-retry-${id}-5`);
    expect(slotHolderId('event-x', 'r1', 'ep')).toBe('event-x:r1:ep');
  });
});

describe('the synchronous token URL', () => {
  it('starts the run and gets its reply in one engine call (Update-with-Start); a replay of the ended run asks the engine nothing', async () => {
    const counting = await countingClient(inject('temporalAddress'));
    const second = await stack.startSecondApi({ temporal: counting.client });
    try {
      const hook = await tokenUrl();
      counting.calls.length = 0;
      const reply = await request(second.baseUrl, `/api/webhook/${hook.token}`, {
        body: { message: 'one round trip' },
        headers: { Prefer: 'wait=60', 'Idempotency-Key': 'gateway-once' },
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ run_id: expect.any(String), response: 'Echo: one round trip' });
      // One ExecuteMultiOperation: no separate StartWorkflowExecution, UpdateWorkflowExecution or poll.
      expect(counting.calls).toEqual(['ExecuteMultiOperation']);

      const handle = stack.temporal.workflow.getHandle(runWorkflowId(reply.body.run_id));
      expect((await handle.describe()).type).toBe('agentRun');
      await handle.result();

      counting.calls.length = 0;
      const replay = await request(second.baseUrl, `/api/webhook/${hook.token}`, {
        body: { message: 'one round trip' },
        headers: { Prefer: 'wait=60', 'Idempotency-Key': 'gateway-once' },
      });
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toMatchObject({ run_id: reply.body.run_id, response: 'Echo: one round trip' });
      expect(counting.calls).toEqual([]);
    } finally {
      second.close();
      await counting.connection.close();
    }
  });
});

/** The stack's client with Update-with-Start refused, as a server with ExecuteMultiOperation disabled answers. */
function refusingMultiOperation(real: Client): Client {
  const refuse = () => Promise.reject(Object.assign(new Error('ExecuteMultiOperation API is disabled'), { code: 7 }));
  const workflow = new Proxy(real.workflow, {
    get(target, prop) {
      if (prop === 'executeUpdateWithStart') return refuse;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'workflow') return workflow;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('a slow agent on the synchronous token URL', () => {
  it('still answers 200 from the same call; telling it from a dead engine costs one plain start (found already running)', async () => {
    const counting = await countingClient(inject('temporalAddress'));
    const second = await stack.startSecondApi({ temporal: counting.client });
    try {
      const slow = (await stack.api('/v1/agents', { key, body: { name: 'Slow', provider: { kind: 'echo', delay_ms: 4000 } } })).body.id;
      const created = await stack.api(`/v1/agents/${slow}/webhooks`, { key, body: { name: 'Slow hook' } });
      counting.calls.length = 0;
      const reply = await request(second.baseUrl, `/api/webhook/${created.body.token}`, { body: { message: 'take your time' }, headers: { Prefer: 'wait=60' } });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ response: 'Echo: take your time' });
      expect(counting.calls.filter((c) => c === 'StartWorkflowExecution')).toHaveLength(1);
      expect(counting.calls.filter((c) => c === 'ExecuteMultiOperation').length).toBeGreaterThanOrEqual(1);
      expect(counting.calls.filter((c) => c === 'UpdateWorkflowExecution')).toHaveLength(0);
    } finally {
      second.close();
      await counting.connection.close();
    }
  });
});

describe('a server that refuses Update-with-Start', () => {
  it('still answers the token URL synchronously, the two-call way', async () => {
    const second = await stack.startSecondApi({ temporal: refusingMultiOperation(stack.temporal) });
    try {
      const hook = await tokenUrl();
      const reply = await request(second.baseUrl, `/api/webhook/${hook.token}`, { body: { message: 'two calls' }, headers: { Prefer: 'wait=60' } });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ response: 'Echo: two calls' });
    } finally {
      second.close();
    }
  });
});

describe('an unreachable workflow engine', () => {
  let proxy: TcpProxy;
  let client: Client;
  let connection: Connection;
  let frozen: { baseUrl: string; close(): void };

  beforeAll(async () => {
    const [host, port] = inject('temporalAddress').split(':');
    proxy = await startTcpProxy({ host: host!, port: Number(port) });
    connection = await Connection.connect({ address: `127.0.0.1:${proxy.port}`, interceptors: [retryWithinDeadline()] });
    client = new Client({ connection, namespace: 'default' });
    frozen = await stack.startSecondApi({ temporal: client });
    proxy.freeze();
  });
  afterAll(async () => {
    frozen?.close();
    await connection?.close().catch(() => undefined); // before the proxy: no call is left to retry on a dropped socket
    await proxy?.close();
  });

  async function runsOfAgent() {
    return stack.database.db.selectFrom('runs').select('id').where('agent_id', '=', agentId).execute();
  }

  it('answers the token URL with the 503 problem (Retry-After) within 1.5× the start deadline, not the whole wait, and keeps no run', async () => {
    const hook = await tokenUrl();
    const before = (await runsOfAgent()).length;
    const started = Date.now();
    const response = await request(frozen.baseUrl, `/api/webhook/${hook.token}`, { body: { message: 'frozen?' }, headers: { Prefer: 'wait=60' } });
    const tookMs = Date.now() - started;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(response.headers.get('retry-after')).toBe('5');
    expect(tookMs).toBeLessThan(45_000); // the 60 s wait was not spent
    expect((await runsOfAgent()).length).toBe(before);
  });

  it('answers the API\'s run creation and a cancel with the same 503 problem', async () => {
    const created = await request(frozen.baseUrl, `/v1/agents/${agentId}/runs`, { key, body: { message: 'frozen too' } });
    expect(created.status).toBe(503);
    expect(created.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', detail: expect.stringContaining('workflow engine') });

    const running = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'cancel me later' } });
    expect(running.status).toBe(202);
    // The run may have completed already (echo is quick): then 409, else the engine's 503.
    const cancel = await request(frozen.baseUrl, `/v1/runs/${running.body.run_id}/cancel`, { key, method: 'POST' });
    expect([409, 503]).toContain(cancel.status);
    if (cancel.status === 503) expect(cancel.body.code).toBe('SERVICE_UNAVAILABLE');
  });
});

describe('a workflow engine that refuses connections', () => {
  let connection: Connection;
  let client: Client;
  let refused: { baseUrl: string; close(): void };

  beforeAll(async () => {
    // Nothing listens on this port: every call fails at once and the SDK's retry interceptor
    // backs off between attempts (sleeps a gRPC deadline does not cut short).
    connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [retryWithinDeadline()] }); // as src/main.ts
    client = new Client({ connection, namespace: 'default' });
    refused = await stack.startSecondApi({ temporal: client });
  });
  afterAll(async () => {
    refused?.close();
    await connection?.close().catch(() => undefined);
  });

  it('fails a call at its deadline, not when the retry backoff next wakes', async () => {
    const overruns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await expect(client.withDeadline(started + 1_000, () => client.workflow.start(agentRun, { workflowId: `refused-${i}`, taskQueue: 'nowhere', args: [] as never }))).rejects.toThrow();
      overruns.push(Date.now() - started - 1_000);
    }
    // With the SDK's own retry interceptor the backoff sleeps end 0.3–0.8 s past a 1 s deadline
    // (0.95 s, then 1.79 s cumulated).
    for (const overrun of overruns) expect(overrun).toBeLessThan(250);
  });

  it('withinDeadline gives up on calls that outlive their deadline, whatever the transport, and abandons them', async () => {
    const abandon = new AbortController();
    const started = Date.now();
    const never = withinDeadline(client, started + 300, () => new Promise<never>(() => undefined), abandon);
    await expect(never).rejects.toBeInstanceOf(EngineDeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(300 + 250);
    expect(abandon.signal.aborted).toBe(true);
  });

  it('ends a retry backoff when the call is cancelled, instead of sleeping on', async () => {
    // A call with no deadline: against a closed port the retries back off for many seconds.
    const abandon = new AbortController();
    const started = Date.now();
    const cancelled = client.withAbortSignal(abandon.signal, () => client.workflow.start(agentRun, { workflowId: 'refused-cancel', taskQueue: 'nowhere', args: [] as never }));
    const outcome = cancelled.then(() => 'started', (error: Error) => error.message);
    await new Promise((resolve) => setTimeout(resolve, 400)); // in the second or third backoff
    abandon.abort();
    const abortedAt = Date.now();
    expect(await outcome).not.toBe('started');
    // The SDK's interceptor ignores the cancel: its retries went on for the next 10 attempts' sleeps.
    expect(Date.now() - abortedAt).toBeLessThan(250);
    expect(abortedAt - started).toBeGreaterThanOrEqual(400);
  });

  it('settles a call whose connection closes during a retry backoff', async () => {
    const own = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [retryWithinDeadline()] });
    const closing = new Client({ connection: own, namespace: 'default' });
    const pending = closing.workflow.start(agentRun, { workflowId: 'refused-close', taskQueue: 'nowhere', args: [] as never }).then(
      () => 'started',
      (error: Error) => error.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    await own.close();
    // The SDK's interceptor opened its next attempt on the closed channel from a timer: an uncaught
    // "Channel has been shut down", and the call never settled.
    const settled = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve('unsettled after 6 s'), 6_000))]);
    expect(settled).not.toBe('started');
    expect(settled).not.toBe('unsettled after 6 s');
  });

  it('passes on the answer of a retry that succeeds after refused attempts', async () => {
    // The port refuses until, 300 ms in, a relay to the real engine starts listening on it.
    const port = await freePort();
    const sockets = new Set<Socket>();
    const relay = createServer((socket) => {
      const [host, upstreamPort] = inject('temporalAddress').split(':');
      const upstream = connectTcp(Number(upstreamPort), host);
      for (const end of [socket, upstream]) sockets.add(end.on('error', () => undefined));
      socket.pipe(upstream).pipe(socket);
    });
    const late = Connection.lazy({ address: `127.0.0.1:${port}`, interceptors: [retryWithinDeadline()] });
    try {
      const lateClient = new Client({ connection: late, namespace: 'default' });
      const listening = new Promise<void>((resolve) => setTimeout(() => relay.listen(port, '127.0.0.1', resolve), 300));
      const started = Date.now();
      const namespace = await lateClient.withDeadline(started + 10_000, () => late.workflowService.describeNamespace({ namespace: 'default' }));
      await listening;
      expect(namespace.namespaceInfo?.name).toBe('default');
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    } finally {
      await late.close();
      for (const s of sockets) s.destroy();
      relay.close();
    }
  });

  it('answers the token URL with the 503 problem within 1.5× the start deadline: one probe, never a second start', async () => {
    const hook = await tokenUrl();
    const started = Date.now();
    // A wait as long as the start deadline: the update fails at 5 s with the probe (from 2.5 s) in flight.
    const response = await request(refused.baseUrl, `/api/webhook/${hook.token}`, { body: { message: 'refused?' }, headers: { Prefer: 'wait=5' } });
    const tookMs = Date.now() - started;
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(response.headers.get('retry-after')).toBe('5');
    // 7.5 s and the database work; awaiting a fresh start after the failed update took 10.5–12 s.
    expect(tookMs).toBeLessThan(9_000);
  });
});

describe('events', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver?.close());

  it('finds the subscribers once (their ids travel in the eventDelivery input), delivers wallet.balance_low, and every stored event matches the catalog', async () => {
    const low = await stack.newOrg('Low gateway org', 101);
    // Every event the run announces is checked against the catalog below: this org keeps its whole
    // event log (by default only the subscribed run.completed and wallet.balance_low would be stored).
    await stack.database.db.updateTable('orgs').set({ event_log: 'all' }).where('id', '=', low.orgId).execute();
    const endpoint = await stack.api('/v1/endpoints', { key: low.apiKey, body: { url: receiver.url, events: ['run.completed', 'wallet.balance_low'] } });
    expect(endpoint.status).toBe(201);
    const lowAgent = (await stack.api('/v1/agents', { key: low.apiKey, body: { name: 'Spender' } })).body.id;
    const accepted = await stack.api(`/v1/agents/${lowAgent}/runs`, { key: low.apiKey, body: { message: 'spend' } });
    await eventually(async () => ((await stack.api(`/v1/runs/${accepted.body.run_id}`, { key: low.apiKey })).body.status === 'completed' ? true : undefined), 'the run');

    const delivered = await eventually(async () => {
      const types = receiver.received.map((r) => JSON.parse(r.body).type as string);
      return types.includes('run.completed') && types.includes('wallet.balance_low') ? types : undefined;
    }, 'run.completed and wallet.balance_low at the endpoint');
    expect(delivered.filter((t) => t === 'wallet.balance_low')).toHaveLength(1);

    const events = await stack.database.db.selectFrom('events').selectAll().where('org_id', '=', low.orgId).execute();
    const completed = events.find((e) => e.type === 'run.completed')!;
    const history = await stack.temporal.workflow.getHandle(eventWorkflowId(completed.id)).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    expect(JSON.parse(Buffer.from(input!).toString())).toEqual({ eventId: completed.id, endpointIds: [endpoint.body.id] });

    // Runtime check of the typed emit(): what was stored, read back as the API and deliveries
    // read it (compact rows expanded), conforms to GET /v1/event-types' schemas.
    const stored = [...events, ...(await stack.database.db.selectFrom('events').selectAll().where('org_id', '=', orgId).execute())];
    const all = await expandEvents(stack.database.db, stored);
    expect(all.length).toBeGreaterThan(4);
    expect(all.flatMap((e) => checkEventData(e.type, e.data))).toEqual([]);
  });

  it('an eventDelivery started with the input of before (no endpointIds) finds its subscribers itself, and its history replays', async () => {
    const own = await stack.newOrg('Old input org');
    const endpoint = await stack.api('/v1/endpoints', { key: own.apiKey, body: { url: receiver.url, events: ['agent.message'] } });
    const ownAgent = (await stack.api('/v1/agents', { key: own.apiKey, body: { name: 'Old' } })).body.id;
    const [event] = await stack.database.db
      .insertInto('events')
      .values({ id: crypto.randomUUID(), org_id: own.orgId, agent_id: ownAgent, run_id: null, type: 'agent.message', data: JSON.stringify({ old: true }), dedupe_key: `old-input:${Date.now()}` })
      .returningAll()
      .execute();
    const handle = await stack.temporal.workflow.start(eventDelivery, {
      workflowId: eventWorkflowId(event!.id),
      taskQueue: deliveriesTaskQueue(stack.taskQueue),
      args: [{ eventId: event!.id }],
    });
    expect(await handle.result()).toEqual({ delivered: 1, failed: 0, skipped: 0 });
    const deliveries = await stack.database.db.selectFrom('deliveries').select('endpoint_id').where('event_id', '=', event!.id).execute();
    expect(deliveries).toEqual([{ endpoint_id: endpoint.body.id }]);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, await handle.fetchHistory(), handle.workflowId);
  });

  it('checkEventData catches what the types would have refused', () => {
    expect(checkEventData('wallet.balance_low', emit('wallet.balance_low', { balance: 5, threshold: 100 }).data)).toEqual([]);
    expect(checkEventData('wallet.balance_low', { balance: '5' })).not.toEqual([]);
    expect(checkEventData('no.such.type', {})).toEqual(['unknown event type no.such.type']);
    // The shape follows from the type at compile time (tsc fails if these stop being errors).
    // @ts-expect-error balance is a number
    emit('wallet.balance_low', { balance: '5', threshold: 100 });
    // @ts-expect-error endpoint.disabled carries no balance
    emit('endpoint.disabled', { balance: 5, threshold: 100 });
  });
});
