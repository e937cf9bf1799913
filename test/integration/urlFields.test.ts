import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutboundTarget } from '../../src/api/outboundTarget.js';
import { parseConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { ContractChecker } from '../support/openapi.js';
import { startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * URL fields a user gives us: credentials in them (`user:pass@`) are refused with a 422 that
 * points to custom headers, and a row stored before that rule reads back masked. In
 * development, a private-address refusal names the setting that allows local receivers.
 */
const WITH_CREDENTIALS = 'https://user:pa55word@hooks.example.com/x';
const MASKED = 'https://***@hooks.example.com/x';
const POINTS_TO_HEADERS = /user name or password.*custom header/;

let stack: TestStack; // development, allow-list off
let contract: ContractChecker;
let key: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, config: { OUTBOUND_ALLOWED_CIDRS: '' } });
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  ({ apiKey: key } = await stack.newOrg('URL fields'));
  agentId = (await call('POST', '/v1/agents', { name: 'Callbacks on', allow_callback_urls: true })).body.id;
});
afterAll(() => stack?.close());

async function call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
  const response = await stack.api(path, { method, key, body });
  contract.expectDocumented(method, path, response);
  return response;
}

function expectRefused(response: ApiResponse, field: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(422);
  expect(response.body.code).toBe('VALIDATION_FAILED');
  expect(response.body.details[field]).toMatch(POINTS_TO_HEADERS);
  // The refusal does not repeat the password back either.
  expect(JSON.stringify(response.body)).not.toContain('pa55word');
}

function expectMasked(response: ApiResponse, read: (body: never) => unknown) {
  expect(response.status).toBe(200);
  expect(read(response.body as never)).toBe(MASKED);
  expect(JSON.stringify(response.body)).not.toContain('pa55word');
}

describe('credentials in URL fields', () => {
  it('endpoint url: refused on create and update; a row stored before reads back masked', async () => {
    expectRefused(await call('POST', '/v1/endpoints', { url: WITH_CREDENTIALS, events: ['run.completed'] }), 'url');
    const endpoint = (await call('POST', '/v1/endpoints', { url: 'https://hooks.example.com/x', events: ['run.completed'] })).body;
    expectRefused(await call('PATCH', `/v1/endpoints/${endpoint.id}`, { url: WITH_CREDENTIALS }), 'url');
    await stack.database.db.updateTable('endpoints').set({ url: WITH_CREDENTIALS }).where('id', '=', endpoint.id).execute();
    expectMasked(await call('GET', `/v1/endpoints/${endpoint.id}`), (b: { url: string }) => b.url);
    const listed = await call('GET', '/v1/endpoints');
    expect(JSON.stringify(listed.body)).not.toContain('pa55word');
    expect(JSON.stringify(listed.body)).toContain(MASKED);
  });

  it('callback_url: refused when a run is started; a run stored before reads back masked', async () => {
    expectRefused(await call('POST', `/v1/agents/${agentId}/runs`, { message: 'hi', callback_url: WITH_CREDENTIALS }), 'callback_url');
    const run = (await call('POST', `/v1/agents/${agentId}/runs`, { message: 'hi', callback_url: 'https://hooks.example.com/x' })).body;
    expect(run.status).toBe('processing');
    await stack.database.db.updateTable('runs').set({ callback_url: WITH_CREDENTIALS }).where('id', '=', run.run_id).execute();
    expectMasked(await call('GET', `/v1/runs/${run.run_id}`), (b: { callback_url: string }) => b.callback_url);
  });

  it('outgoing_url: refused on create and update; a token URL stored before reads back masked', async () => {
    expectRefused(await call('POST', `/v1/agents/${agentId}/webhooks`, { name: 'Zap', outgoing_url: WITH_CREDENTIALS }), 'outgoing_url');
    const webhook = (await call('POST', `/v1/agents/${agentId}/webhooks`, { name: 'Zap' })).body;
    expectRefused(await call('PATCH', `/v1/webhooks/${webhook.id}`, { outgoing_url: WITH_CREDENTIALS }), 'outgoing_url');
    await stack.database.db.updateTable('inbound_webhooks').set({ outgoing_url: WITH_CREDENTIALS }).where('id', '=', webhook.id).execute();
    const listed = await call('GET', `/v1/agents/${agentId}/webhooks`);
    expect(listed.body.data.find((w: { id: string }) => w.id === webhook.id).outgoing_url).toBe(MASKED);
    expect(JSON.stringify(listed.body)).not.toContain('pa55word');
  });

  it('HTTP agent url and provider base_url: refused; agents stored before read back masked', async () => {
    expectRefused(await call('POST', '/v1/agents', { name: 'Own service', provider: { kind: 'http', url: WITH_CREDENTIALS } }), 'provider.url');
    expectRefused(
      await call('POST', '/v1/agents', { name: 'OpenAI-like', provider: { kind: 'openai', base_url: WITH_CREDENTIALS, model: 'gpt-test' } }),
      'provider.base_url',
    );
    const http = (await call('POST', '/v1/agents', { name: 'Own service', provider: { kind: 'http', url: 'https://hooks.example.com/x', headers: { 'X-Key': 'k' } } })).body;
    expectRefused(await call('PATCH', `/v1/agents/${http.id}`, { provider: { kind: 'http', url: WITH_CREDENTIALS } }), 'provider.url');
    for (const [id, provider] of [
      [http.id, { kind: 'http', url: WITH_CREDENTIALS }],
      [agentId, { kind: 'openai', base_url: WITH_CREDENTIALS, model: 'gpt-test' }],
    ] as const) {
      await sql`update agents set provider = ${JSON.stringify(provider)}::jsonb where id = ${id}`.execute(stack.database.db);
    }
    expectMasked(await call('GET', `/v1/agents/${http.id}`), (b: { provider: { url: string } }) => b.provider.url);
    expectMasked(await call('GET', `/v1/agents/${agentId}`), (b: { provider: { base_url: string } }) => b.provider.base_url);
  });
});

describe('a private target in development', () => {
  it('names OUTBOUND_ALLOWED_CIDRS in the 422; production does not', async () => {
    const refused = await call('POST', '/v1/endpoints', { url: 'http://127.0.0.1:3000/hooks', events: ['run.completed'] });
    expect(refused.status).toBe(422);
    expect(refused.body.details.url).toMatch(/private, loopback or link-local.*OUTBOUND_ALLOWED_CIDRS=127\.0\.0\.0\/8/);
    const callback = await call('POST', `/v1/agents/${agentId}/runs`, { message: 'hi', callback_url: 'http://192.168.1.20/cb' });
    expect(callback.body.details.callback_url).toMatch(/OUTBOUND_ALLOWED_CIDRS/);

    const production = parseConfig({ APP_ENV: 'production', OUTBOUND_ALLOWED_CIDRS: '' });
    try {
      checkOutboundTarget({ config: production }, 'https://127.0.0.1/hooks', 'url');
      expect.unreachable('production accepted a loopback target');
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).details!.url).toMatch(/private, loopback or link-local/);
      expect((err as AppError).details!.url).not.toMatch(/OUTBOUND_ALLOWED_CIDRS/);
    }
  });
});
