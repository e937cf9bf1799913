import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  generateSigningSecret,
  hexBodySignature,
  signatureHeader,
  webhookHeaders,
} from '../../../src/outbound/signing.js';

const body = JSON.stringify({ id: 'evt_1', type: 'run.completed', data: { answer: 'ünïcödé ✓' } });

function signedHeaders(secrets: string[], timestamp = new Date()) {
  return webhookHeaders({ msgId: 'msg_2x1', timestamp, body, secrets });
}

describe('generateSigningSecret', () => {
  it('makes whsec_ secrets of at least 24 random bytes, all different', () => {
    const a = generateSigningSecret();
    const b = generateSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(a).not.toBe(b);
  });
});

describe('webhookHeaders', () => {
  it('produces a delivery the standardwebhooks package verifies', () => {
    const secret = generateSigningSecret();
    const headers = signedHeaders([secret]);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe('msg_2x1');
    expect(headers['webhook-timestamp']).toMatch(/^\d{10}$/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with every secret during a rotation, so either one verifies', () => {
    const [newer, older] = [generateSigningSecret(), generateSigningSecret()];
    const headers = signedHeaders([newer, older]);
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(() => new Webhook(newer).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(older).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateSigningSecret()).verify(body, headers)).toThrow(/signature/i);
  });

  it('fails verification when the body or the timestamp is tampered with', () => {
    const secret = generateSigningSecret();
    const headers = signedHeaders([secret]);
    const wh = new Webhook(secret);
    expect(() => wh.verify(body.replace('evt_1', 'evt_2'), headers)).toThrow(/signature/i);
    const shifted = String(Number(headers['webhook-timestamp']) - 1);
    expect(() => wh.verify(body, { ...headers, 'webhook-timestamp': shifted })).toThrow(/signature/i);
    expect(() => wh.verify(body, { ...headers, 'webhook-id': 'msg_other' })).toThrow(/signature/i);
  });

  it('uses whole unix seconds of the given time', () => {
    const headers = signedHeaders([generateSigningSecret()], new Date('2030-01-02T03:04:05.999Z'));
    expect(headers['webhook-timestamp']).toBe(String(Date.UTC(2030, 0, 2, 3, 4, 5) / 1000));
  });

  it('adds the hex body signature keyed with the newest secret as the user holds it', () => {
    const [newer, older] = [generateSigningSecret(), generateSigningSecret()];
    const headers = signedHeaders([newer, older]);
    const manual = createHmac('sha256', newer).update(body).digest('hex');
    expect(headers['x-webhook-signature']).toBe(manual);
    expect(hexBodySignature(newer, body)).toBe(manual);
    expect(manual).not.toBe(createHmac('sha256', older).update(body).digest('hex'));
  });

  it('during a rotation also signs the hex header with each earlier secret, so a receiver holding either verifies', () => {
    const [newer, older, oldest] = [generateSigningSecret(), generateSigningSecret(), generateSigningSecret()];
    const hex = (secret: string) => createHmac('sha256', secret).update(body).digest('hex');
    const verifiesHex = (h: Record<string, string>, secret: string) =>
      [h['x-webhook-signature'], ...(h['x-webhook-signature-previous'] ?? '').split(' ')].includes(hex(secret));
    const rotating = signedHeaders([newer, older]);
    expect(rotating['x-webhook-signature-previous']).toBe(hex(older));
    expect(verifiesHex(rotating, newer) && verifiesHex(rotating, older)).toBe(true);
    expect(verifiesHex(rotating, generateSigningSecret())).toBe(false);
    expect(signedHeaders([newer, older, oldest])['x-webhook-signature-previous']).toBe(`${hex(older)} ${hex(oldest)}`);
    expect(signedHeaders([newer])).not.toHaveProperty('x-webhook-signature-previous');
  });

  it('keeps custom headers but never lets them replace the signed ones', () => {
    const secret = generateSigningSecret();
    const headers = webhookHeaders({
      msgId: 'msg_real',
      timestamp: new Date(),
      body,
      secrets: [secret],
      customHeaders: {
        'X-Team': 'blue',
        'Content-Type': 'text/plain',
        'WEBHOOK-ID': 'msg_forged',
        'Webhook-Timestamp': '1',
        'webhook-signature': 'v1,forged',
        'X-Webhook-Signature': 'forged',
        'X-Webhook-Signature-Previous': 'forged',
        'Content-Length': '1',
      },
    });
    expect(headers['X-Team']).toBe('blue');
    const names = Object.keys(headers).map((n) => n.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    expect(Object.values(headers)).not.toContain('forged');
    expect(Object.values(headers)).not.toContain('msg_forged');
    expect(names).not.toContain('content-length');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['webhook-id']).toBe('msg_real');
    expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
  });
});

describe('signatureHeader', () => {
  it('matches the reference implementation for a fixed input', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const at = new Date(1_700_000_000_000);
    expect(signatureHeader([secret], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1_700_000_000, body)).toBe(
      new Webhook(secret).sign('msg_p5jXN8AQM9LWM0D4loKWxJek', at, body),
    );
  });

  it('rejects misuse', () => {
    expect(() => signatureHeader([], 'm', 1, body)).toThrow(/secret/);
    expect(() => signatureHeader(['whsec_not base64!'], 'm', 1, body)).toThrow(/base64/);
    expect(() => signatureHeader([generateSigningSecret()], 'm', 1.5, body)).toThrow(/seconds/);
  });
});
