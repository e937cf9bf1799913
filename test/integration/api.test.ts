import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  ({ apiKey: key } = await stack.newOrg());
  const created = await stack.api('/v1/agents', { key, body: { name: 'Conventions agent' } });
  expect(created.status).toBe(201);
  agentId = created.body.id;
});
afterAll(() => stack?.close());

function expectProblem(response: { status: number; headers: Headers; body: any }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  expect(response.body.request_id).toMatch(/\S/);
  expect(response.headers.get('x-request-id')).toBe(response.body.request_id);
  expect(JSON.stringify(response.body)).not.toMatch(/\bat .*\.ts:\d+/); // no stack traces
}

describe('HTTP conventions', () => {
  it('answers an unknown route with a 404 problem carrying the request id', async () => {
    const response = await stack.api('/v1/no-such-thing');
    expectProblem(response, 404, 'NOT_FOUND');
    expect(response.body.instance).toBe('/v1/no-such-thing');
  });

  it('answers a malformed JSON body with a 400 problem', async () => {
    const response = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: '{"message": ' });
    expectProblem(response, 400, 'MALFORMED_JSON');
  });

  it('reads a body only for a known route and an authenticated caller', async () => {
    expectProblem(await stack.api(`/v1/agents/${agentId}/runs`, { body: '{"message": ' }), 401, 'UNAUTHORIZED');
    expectProblem(await stack.api('/v1/no-such-thing', { key, body: '{"message": ' }), 404, 'NOT_FOUND');
  });

  it('rejects non-JSON bodies with 415 and oversized ones with 413', async () => {
    const form = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: 'message=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectProblem(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
    const huge = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'x'.repeat(stack.config.BODY_LIMIT_BYTES + 10) } });
    expectProblem(huge, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('turns invalid input into a 422 with details per field', async () => {
    const response = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: '', extra: true } });
    expectProblem(response, 422, 'VALIDATION_FAILED');
    expect(Object.keys(response.body.details).sort()).toEqual(['body', 'message'].sort().filter((k) => k in response.body.details));
    expect(response.body.details.message).toMatch(/\S/);
    const missing = await stack.api('/v1/agents', { key, method: 'POST' });
    expectProblem(missing, 422, 'VALIDATION_FAILED');
    expect(missing.body.details).toEqual({ body: 'A JSON request body is required' });
  });

  it('keeps a sane caller X-Request-Id and replaces a hostile one', async () => {
    const kept = await stack.api('/healthz', { headers: { 'x-request-id': 'zap-123.abc' } });
    expect(kept.headers.get('x-request-id')).toBe('zap-123.abc');
    const replaced = await stack.api('/healthz', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
  });

  it('answers a wrong method on a known route with 405', async () => {
    const response = await stack.api('/v1/agents', { key, method: 'PUT', body: {} });
    expectProblem(response, 405, 'METHOD_NOT_ALLOWED');
  });

  it('reports liveness and readiness', async () => {
    expect((await stack.api('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await stack.api('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ database: 'ok', temporal: 'ok' });
  });
});

describe('API key authentication', () => {
  it('requires a key', async () => {
    expectProblem(await stack.api(`/v1/agents/${agentId}`), 401, 'UNAUTHORIZED');
    expectProblem(await stack.api(`/v1/agents/${agentId}`, { key: 'awk_' + '0'.repeat(64) }), 401, 'UNAUTHORIZED');
    expectProblem(await stack.api(`/v1/agents/${agentId}`, { key: 'not-a-key' }), 401, 'UNAUTHORIZED');
  });

  it('hides other orgs\' agents behind a 404', async () => {
    const other = await stack.newOrg('Other org');
    expectProblem(await stack.api(`/v1/agents/${agentId}`, { key: other.apiKey }), 404, 'NOT_FOUND');
    expectProblem(await stack.api(`/v1/agents/${agentId}/runs`, { key: other.apiKey, body: { message: 'hi' } }), 404, 'NOT_FOUND');
    expect((await stack.api(`/v1/agents/${agentId}`, { key })).status).toBe(200);
  });

  it('stores only the key hash and records last use', async () => {
    const rows = await stack.database.db.selectFrom('api_keys').selectAll().execute();
    for (const row of rows) {
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(key.slice(4));
    }
    const mine = rows.find((r) => key.slice(4, 12) === r.prefix);
    expect(mine?.last_used_at).toBeInstanceOf(Date);
  });
});
