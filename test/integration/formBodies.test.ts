import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractChecker } from '../support/openapi.js';
import { eventually, request, startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * Form posts, as Zapier's "Webhooks by Zapier" (form by default), n8n's "Form Urlencoded" body
 * and Make send them, to token URLs and trigger URLs: the same validation and errors as JSON,
 * and signatures over the exact form bytes. Sent with curl and with Node's own FormData.
 */
const run = promisify(execFile);
let stack: TestStack;
let contract: ContractChecker;
let key: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack({ config: { SYNC_WAIT_SECONDS: '5' } });
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  ({ apiKey: key } = await stack.newOrg('Form senders'));
  agentId = (await stack.api('/v1/agents', { key, body: { name: 'Form bot' } })).body.id;
});
afterAll(() => stack?.close());

async function tokenUrl(): Promise<string> {
  const created = await stack.api(`/v1/agents/${agentId}/webhooks`, { key, body: { name: 'Zapier form' } });
  expect(created.status).toBe(201);
  return created.body.webhook_url;
}

/** POSTs exact bytes with a content type, and checks the answer against the document. */
async function post(url: string, body: string | Buffer | FormData, contentType?: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const response = await fetch(url, { method: 'POST', body, headers: { ...(contentType ? { 'content-type': contentType } : {}), ...headers } });
  const text = await response.text();
  const parsed: ApiResponse = { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  contract.expectDocumented('POST', new URL(url).pathname, parsed);
  return parsed;
}

async function curl(args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: JSON.parse(stdout.slice(0, at)) };
}

/** The bytes and content type Node's fetch sends for a FormData: what a signer must sign. */
async function encoded(form: FormData): Promise<{ bytes: Buffer; contentType: string }> {
  const response = new Response(form);
  return { bytes: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type')! };
}

async function storedRun(runId: string) {
  return stack.database.db
    .selectFrom('runs')
    .leftJoin('conversations', 'conversations.id', 'runs.conversation_id')
    .select(['runs.message', 'runs.context', 'runs.metadata', 'conversations.external_user_id'])
    .where('runs.id', '=', runId)
    .executeTakeFirstOrThrow();
}

describe('token URLs take form fields', () => {
  it('curl -d message=hi answers 200 with the reply; curl -F (multipart) too', async () => {
    const url = await tokenUrl();
    const urlencoded = await curl(['-d', 'message=hi', url]);
    expect(urlencoded).toMatchObject({ status: 200, body: { response: 'Echo: hi', conversation_id: expect.any(String), credits_used: expect.any(Number) } });
    const multipart = await curl(['-F', 'message=hi from curl -F', '-F', 'user_id=zap-user', url]);
    expect(multipart).toMatchObject({ status: 200, body: { response: 'Echo: hi from curl -F' } });
    expect((await storedRun(multipart.body.run_id as string)).external_user_id).toBe('zap-user');
  });

  it('reads bracket names and JSON text into context and metadata, urlencoded and multipart (Node FormData)', async () => {
    const url = await tokenUrl();
    const fields = new URLSearchParams({ message: 'Ticket #7 is late', user_id: 'u-1', 'context[region]': 'APAC', 'context[tier]': 'gold', 'metadata[source]': 'zapier' });
    const viaUrlencoded = await post(url, fields.toString(), 'application/x-www-form-urlencoded');
    expect(viaUrlencoded.status).toBe(200);
    // The echo agent repeats the message and the context it was given.
    expect(viaUrlencoded.body.response).toMatch(/^Echo: Ticket #7 is late\n[\s\S]*- region: APAC/);
    expect(await storedRun(viaUrlencoded.body.run_id)).toMatchObject({ context: { region: 'APAC', tier: 'gold' }, metadata: { source: 'zapier' }, external_user_id: 'u-1' });

    const form = new FormData();
    form.set('message', 'Grüße from FormData');
    form.set('context', JSON.stringify({ region: 'EMEA' }));
    form.set('metadata[zap][id]', 'z-42');
    const viaMultipart = await post(url, form);
    expect(viaMultipart.status).toBe(200);
    expect(viaMultipart.body.response).toMatch(/^Echo: Grüße from FormData\n[\s\S]*- region: EMEA/);
    expect(await storedRun(viaMultipart.body.run_id)).toMatchObject({ context: { region: 'EMEA' }, metadata: { zap: { id: 'z-42' } } });
  });

  it('answers 400 for a missing or empty message, as for JSON', async () => {
    const url = await tokenUrl();
    for (const body of ['user_id=x', 'message=', 'message=%20%20', 'context[region]=APAC']) {
      const response = await post(url, body, 'application/x-www-form-urlencoded');
      expect(response.status, body).toBe(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED', details: { message: expect.any(String) } });
    }
    const form = new FormData();
    form.set('user_id', 'x');
    const multipart = await post(url, form);
    expect(multipart.status).toBe(400);
    expect(multipart.body.details.message).toEqual(expect.any(String));
    // A JSON string that is not an object, where an object is expected.
    const badContext = await post(url, 'message=hi&context=%5B1%5D', 'application/x-www-form-urlencoded');
    expect(badContext.status).toBe(400);
    expect(badContext.body.details.context).toMatch(/JSON object/);
  });

  it('refuses a file part with 415, a broken multipart body and conflicting names with 400, and never starts a run', async () => {
    const url = await tokenUrl();
    const before = await stack.database.db.selectFrom('runs').select('id').where('source', '=', 'webhook').execute();
    const withFile = new FormData();
    withFile.set('message', 'see attachment');
    withFile.set('report', new Blob(['a,b\n1,2\n'], { type: 'text/csv' }), 'report.csv');
    const file = await post(url, withFile);
    expect(file.status).toBe(415);
    expect(file.body).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', detail: expect.stringMatching(/File parts are not accepted.*report\.csv/) });

    const mixed = await post(url, 'message=hi', 'multipart/mixed; boundary=x');
    expect(mixed.status).toBe(415);
    const noBoundary = await post(url, 'message=hi', 'multipart/form-data');
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body.code).toBe('MALFORMED_FORM');
    const conflicting = await post(url, 'message=hi&context=x&context[a]=b', 'application/x-www-form-urlencoded');
    expect(conflicting.status).toBe(400);
    expect(conflicting.body.code).toBe('MALFORMED_FORM');
    // __proto__ is a plain key, as JSON.parse makes it: nothing global changes.
    const proto = await post(url, 'message=hi&metadata[__proto__][polluted]=yes', 'application/x-www-form-urlencoded');
    expect(proto.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    const tooBig = await post(url, `message=${'x'.repeat(stack.config.BODY_LIMIT_BYTES)}`, 'application/x-www-form-urlencoded');
    expect(tooBig.status).toBe(413);
    const after = await stack.database.db.selectFrom('runs').select('id').where('source', '=', 'webhook').execute();
    expect(after.length - before.length).toBe(1); // the __proto__ call only
  });

  it('keeps answering 415 for forms on API-key JSON routes', async () => {
    const urlencoded = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: 'message=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(urlencoded.status).toBe(415);
    const form = new FormData();
    form.set('message', 'hi');
    const multipart = await encoded(form);
    expect(multipart.contentType).toMatch(/^multipart\/form-data; boundary=/);
    const refused = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: multipart.bytes.toString(), headers: { 'content-type': multipart.contentType } });
    expect(refused.status).toBe(415);
    expect(refused.body.detail).toBe('Send the request body as application/json');
  });
});

describe('trigger URLs take form fields, signed over the raw form bytes', () => {
  async function createTrigger(body: Record<string, unknown>) {
    const created = await stack.api(`/v1/agents/${agentId}/triggers`, { key, body: { name: 'Form trigger', ...body } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body as { id: string; invoke_url: string; secret: string | null };
  }

  async function completedResult(response: ApiResponse): Promise<string> {
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    const runId = response.body.invocations[0].invocation_id;
    return eventually(async () => {
      const r = await stack.api(`/v1/runs/${runId}`, { key });
      return r.body.status === 'completed' ? (r.body.result as string) : undefined;
    }, 'the triggered run');
  }

  it('hmac-sha256: an urlencoded body verifies over its exact bytes; the same fields re-encoded do not', async () => {
    const trigger = await createTrigger({ scheme: 'hmac-sha256', signature_header: 'X-Signature', message_template: 'Order {{payload.order.id}} for {{payload.customer}}' });
    const raw = 'order%5Bid%5D=A-17&customer=J%C3%BCrgen+M';
    const sign = (bytes: string | Buffer) => createHmac('sha256', trigger.secret!).update(bytes).digest('hex');
    const ok = await post(trigger.invoke_url, raw, 'application/x-www-form-urlencoded', { 'x-signature': sign(raw) });
    expect(await completedResult(ok)).toBe('Echo: Order A-17 for Jürgen M');

    // Same fields, other bytes (literal brackets, %20): the signature of the first body fails.
    const reencoded = 'order[id]=A-17&customer=J%C3%BCrgen%20M';
    const forged = await post(trigger.invoke_url, reencoded, 'application/x-www-form-urlencoded', { 'x-signature': sign(raw) });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('UNAUTHORIZED');
  });

  it('github: a multipart body from Node FormData verifies over its exact bytes, and tampering is refused', async () => {
    const trigger = await createTrigger({ scheme: 'github', message_template: '{{headers.x-github-event}}: {{payload.title}} ({{payload.labels | join(", ")}})' });
    const form = new FormData();
    form.set('title', 'Crash on start');
    form.append('labels[]', 'bug');
    form.append('labels[]', 'p1');
    const { bytes, contentType } = await encoded(form);
    const signature = `sha256=${createHmac('sha256', trigger.secret!).update(bytes).digest('hex')}`;
    const headers = { 'x-hub-signature-256': signature, 'x-github-event': 'issues', 'x-github-delivery': randomUUID() };
    const ok = await post(trigger.invoke_url, bytes, contentType, headers);
    expect(await completedResult(ok)).toBe('Echo: issues: Crash on start (bug, p1)');

    const tampered = Buffer.from(bytes.toString('latin1').replace('Crash on start', 'Crash on stop!'), 'latin1');
    const refused = await post(trigger.invoke_url, tampered, contentType, { ...headers, 'x-github-delivery': randomUUID() });
    expect(refused.status).toBe(401);
  });

  it('scheme none: the token URL takes curl -d fields and answers the payload schema\'s 400 as for JSON', async () => {
    const trigger = await createTrigger({
      scheme: 'none',
      message_template: 'Lead {{payload.email}}',
      input_schema: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
    });
    const accepted = await curl(['-d', 'email=ada@example.com', '-d', 'ignored=1', trigger.invoke_url]);
    expect(accepted.status).toBe(202);
    const runId = (accepted.body.invocations as Array<{ invocation_id: string }>)[0]!.invocation_id;
    expect((await storedRun(runId)).message).toBe('Lead ada@example.com');
    const invalid = await curl(['-F', 'name=Ada', trigger.invoke_url]);
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: 'VALIDATION_FAILED', validationErrors: [expect.objectContaining({ message: expect.any(String) })] });
  });
});

describe('the document says so', () => {
  it('lists JSON, urlencoded and multipart for token and trigger URLs, and only JSON elsewhere', async () => {
    const document = (await request(stack.baseUrl, '/openapi.json')).body;
    for (const path of ['/api/webhook/{token}', '/api/triggers/{token}', '/v1/triggers/{id}/invoke']) {
      expect(Object.keys(document.paths[path].post.requestBody.content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data']);
    }
    expect(Object.keys(document.paths['/v1/agents/{id}/runs'].post.requestBody.content)).toEqual(['application/json']);
  });
});
