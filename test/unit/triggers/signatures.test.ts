import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  generateTriggerSecret,
  verifyGithub,
  verifyHmacSha256,
  verifyStandardWebhooks,
  verifyStripe,
  verifyTriggerRequest,
  type InboundRequest,
} from '../../../src/domain/triggers/signatures.js';

const body = JSON.stringify({ id: 'evt_1NXkZq', type: 'issue.opened', data: { title: 'ünïcödé ✓' } });
const now = new Date('2026-11-25T14:00:00Z');
const nowSeconds = Math.floor(now.getTime() / 1000);

function parsed(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function request(headers: Record<string, string>, raw: string = body, at: Date = now): InboundRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { rawBody: Buffer.from(raw), header: (name) => lower[name.toLowerCase()] || undefined, payload: parsed(raw), now: at };
}

const hex = (key: string, content: string) => createHmac('sha256', key).update(content).digest('hex');

describe('generateTriggerSecret', () => {
  it('makes whsec_ secrets for Standard Webhooks and 64 hex characters otherwise, all different', () => {
    const whsec = generateTriggerSecret('standard-webhooks');
    expect(whsec).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(whsec.slice(6), 'base64')).toHaveLength(32);
    expect(generateTriggerSecret('github')).toMatch(/^[0-9a-f]{64}$/);
    expect(generateTriggerSecret('stripe')).not.toBe(generateTriggerSecret('stripe'));
  });
});

describe('verifyStandardWebhooks (signed by the standardwebhooks package)', () => {
  const secret = generateTriggerSecret('standard-webhooks');
  const signed = (msgId: string, at: Date, raw = body, key = secret) => ({
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(msgId, at, raw),
  });

  it('accepts a genuine delivery and reports its webhook-id', () => {
    expect(verifyStandardWebhooks(secret, request(signed('msg_1', now)))).toEqual({ ok: true, deliveryId: 'msg_1' });
  });

  it('accepts the svix-* header names and a rotation list with one matching signature', () => {
    const headers = signed('msg_2', now);
    const other = new Webhook(generateTriggerSecret('standard-webhooks')).sign('msg_2', now, body);
    const svix = { 'svix-id': 'msg_2', 'svix-timestamp': headers['webhook-timestamp'], 'svix-signature': `${other} ${headers['webhook-signature']}` };
    expect(verifyStandardWebhooks(secret, request(svix))).toEqual({ ok: true, deliveryId: 'msg_2' });
  });

  it('rejects a tampered body, a wrong secret, a changed id and a signature-less header', () => {
    const headers = signed('msg_3', now);
    expect(verifyStandardWebhooks(secret, request(headers, body.replace('opened', 'closed')))).toMatchObject({ ok: false, reason: 'no webhook-signature matches' });
    expect(verifyStandardWebhooks(generateTriggerSecret('standard-webhooks'), request(headers))).toMatchObject({ ok: false });
    expect(verifyStandardWebhooks(secret, request({ ...headers, 'webhook-id': 'msg_4' }))).toMatchObject({ ok: false });
    expect(verifyStandardWebhooks(secret, request({ ...headers, 'webhook-signature': 'v2,abc' }))).toMatchObject({ ok: false });
    const unsigned = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'webhook-signature'));
    expect(verifyStandardWebhooks(secret, request(unsigned))).toMatchObject({ ok: false, reason: /missing/ });
  });

  it('rejects a timestamp more than 5 minutes old or ahead, even when correctly signed', () => {
    const old = new Date(now.getTime() - 301_000);
    const ahead = new Date(now.getTime() + 301_000);
    expect(verifyStandardWebhooks(secret, request(signed('msg_5', old)))).toMatchObject({ ok: false, reason: /more than 300 seconds/ });
    expect(verifyStandardWebhooks(secret, request(signed('msg_6', ahead)))).toMatchObject({ ok: false, reason: /more than 300 seconds/ });
    expect(verifyStandardWebhooks(secret, request(signed('msg_7', new Date(now.getTime() - 299_000))))).toMatchObject({ ok: true });
  });
});

describe('verifyGithub (X-Hub-Signature-256 as GitHub documents it)', () => {
  const secret = 'It\'s a Secret to Everybody';

  it('matches GitHub\'s published test vector', () => {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const req = request({ 'X-Hub-Signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17' }, 'Hello, World!');
    expect(verifyGithub(secret, req)).toEqual({ ok: true, deliveryId: null });
  });

  it('accepts a genuine delivery and reports X-GitHub-Delivery', () => {
    const headers = { 'X-Hub-Signature-256': `sha256=${hex(secret, body)}`, 'X-GitHub-Delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };
    expect(verifyGithub(secret, request(headers))).toEqual({ ok: true, deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958' });
  });

  it('rejects a tampered body, a wrong secret, the legacy sha1 header and a malformed value', () => {
    const signature = `sha256=${hex(secret, body)}`;
    expect(verifyGithub(secret, request({ 'X-Hub-Signature-256': signature }, `${body} `))).toMatchObject({ ok: false });
    expect(verifyGithub('another secret', request({ 'X-Hub-Signature-256': signature }))).toMatchObject({ ok: false });
    expect(verifyGithub(secret, request({ 'X-Hub-Signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}` }))).toMatchObject({ ok: false, reason: /missing/ });
    expect(verifyGithub(secret, request({ 'X-Hub-Signature-256': hex(secret, body) }))).toMatchObject({ ok: false });
    expect(verifyGithub(secret, request({ 'X-Hub-Signature-256': `sha256=${hex(secret, body).slice(0, 62)}` }))).toMatchObject({ ok: false });
  });
});

describe('verifyStripe (Stripe-Signature as Stripe documents it)', () => {
  const secret = 'whsec_test_secret_0123456789abcdef';
  const header = (t: number, raw = body, key = secret) => `t=${t},v1=${hex(key, `${t}.${raw}`)},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39`;

  it('accepts a genuine event and reports the event id from the payload', () => {
    expect(verifyStripe(secret, request({ 'Stripe-Signature': header(nowSeconds) }))).toEqual({ ok: true, deliveryId: 'evt_1NXkZq' });
  });

  it('accepts any matching v1 (Stripe signs with old and new secrets while one rolls)', () => {
    const both = `t=${nowSeconds},v1=${hex('whsec_old_one_0123456789', `${nowSeconds}.${body}`)},v1=${hex(secret, `${nowSeconds}.${body}`)}`;
    expect(verifyStripe(secret, request({ 'Stripe-Signature': both }))).toMatchObject({ ok: true });
  });

  it('rejects a tampered body, a wrong secret, a changed t and a header without v1', () => {
    expect(verifyStripe(secret, request({ 'Stripe-Signature': header(nowSeconds) }, body.replace('1NXkZq', '2AAAAA')))).toMatchObject({ ok: false });
    expect(verifyStripe('whsec_wrong_secret_000000', request({ 'Stripe-Signature': header(nowSeconds) }))).toMatchObject({ ok: false });
    const shifted = header(nowSeconds).replace(`t=${nowSeconds}`, `t=${nowSeconds + 1}`);
    expect(verifyStripe(secret, request({ 'Stripe-Signature': shifted }))).toMatchObject({ ok: false, reason: 'no Stripe-Signature v1 matches' });
    expect(verifyStripe(secret, request({ 'Stripe-Signature': `t=${nowSeconds}` }))).toMatchObject({ ok: false, reason: /needs t= and v1=/ });
    expect(verifyStripe(secret, request({ 'Stripe-Signature': 'garbage' }))).toMatchObject({ ok: false });
  });

  it('rejects a t outside the 300 s tolerance', () => {
    expect(verifyStripe(secret, request({ 'Stripe-Signature': header(nowSeconds - 301) }))).toMatchObject({ ok: false, reason: /more than 300 seconds/ });
    expect(verifyStripe(secret, request({ 'Stripe-Signature': header(nowSeconds - 300) }))).toMatchObject({ ok: true });
  });
});

describe('verifyHmacSha256 (a header of the trigger\'s choosing)', () => {
  const secret = 'shopify-or-anything-0123456789';
  const base64 = createHmac('sha256', secret).update(body).digest('base64');

  it('accepts hex, sha256=-prefixed hex and (when configured) base64', () => {
    const options = { header: 'x-signature', deliveryIdHeader: 'x-request-id' };
    expect(verifyHmacSha256(secret, request({ 'X-Signature': hex(secret, body), 'X-Request-Id': 'd-1' }), options)).toEqual({ ok: true, deliveryId: 'd-1' });
    expect(verifyHmacSha256(secret, request({ 'X-Signature': `sha256=${hex(secret, body).toUpperCase()}` }), options)).toEqual({ ok: true, deliveryId: null });
    expect(verifyHmacSha256(secret, request({ 'X-Shopify-Hmac-Sha256': base64 }), { header: 'x-shopify-hmac-sha256', encoding: 'base64' })).toMatchObject({ ok: true });
    expect(verifyHmacSha256(secret, request({ 'X-Shopify-Hmac-Sha256': base64 }), { header: 'x-shopify-hmac-sha256', encoding: 'hex' })).toMatchObject({ ok: false });
  });

  it('rejects a tampered body, a wrong secret, another header and a missing header', () => {
    const options = { header: 'x-signature' };
    expect(verifyHmacSha256(secret, request({ 'X-Signature': hex(secret, body) }, `${body}\n`), options)).toMatchObject({ ok: false });
    expect(verifyHmacSha256('not-the-secret-000000', request({ 'X-Signature': hex(secret, body) }), options)).toMatchObject({ ok: false });
    expect(verifyHmacSha256(secret, request({ 'X-Other': hex(secret, body) }), options)).toMatchObject({ ok: false, reason: 'missing x-signature header' });
  });
});

describe('verifyTriggerRequest', () => {
  it('dispatches on the scheme and never verifies scheme none', () => {
    const secret = 'dispatch-secret-0123456789';
    const req = request({ 'X-Hub-Signature-256': `sha256=${hex(secret, body)}` });
    expect(verifyTriggerRequest({ scheme: 'github', secret }, req)).toMatchObject({ ok: true });
    expect(verifyTriggerRequest({ scheme: 'stripe', secret }, req)).toMatchObject({ ok: false });
    expect(verifyTriggerRequest({ scheme: 'none', secret: null }, req)).toMatchObject({ ok: false });
    expect(verifyTriggerRequest({ scheme: 'hmac-sha256', secret, signatureHeader: 'x-hub-signature-256' }, req)).toMatchObject({ ok: true });
  });
});
