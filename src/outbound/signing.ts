import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks secret prefix: `whsec_<base64 key>`. */
const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Headers a delivery always sets itself. Custom endpoint headers cannot replace them: a
 * forged signature or content type would break verification, and framing headers
 * (host, content-length, transfer-encoding, connection) would corrupt the request.
 */
const RESERVED_HEADERS = new Set([
  'content-type',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-webhook-signature',
  'x-webhook-signature-previous',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
]);

/** A new signing secret: 32 random bytes, as receivers using `standardwebhooks` expect. */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** The HMAC key a `whsec_` secret stands for. The prefix is optional, as in the reference library. */
function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!BASE64.test(encoded)) throw new TypeError('a signing secret must be whsec_ followed by base64');
  return Buffer.from(encoded, 'base64');
}

/**
 * `webhook-signature`: one `v1,<base64 HMAC-SHA256>` per secret, space-separated, so during a
 * rotation receivers holding either the old or the new secret verify the same delivery.
 */
export function signatureHeader(secrets: readonly string[], msgId: string, timestampSeconds: number, body: string): string {
  if (secrets.length === 0) throw new TypeError('at least one signing secret is required');
  if (!Number.isInteger(timestampSeconds)) throw new TypeError('timestampSeconds must be whole seconds');
  const content = `${msgId}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', secretKey(secret)).update(content).digest('base64')}`)
    .join(' ');
}

/**
 * `x-webhook-signature`: hex HMAC-SHA256 of the raw body, keyed with the secret string
 * exactly as the user holds it (prefix included) — what seed-era receivers compute.
 */
export function hexBodySignature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export interface WebhookHeadersInput {
  msgId: string;
  timestamp: Date;
  body: string;
  /** Newest first; the newest one also keys the hex signature. */
  secrets: readonly string[];
  customHeaders?: Record<string, string>;
}

/** Every header of a signed delivery: the endpoint's custom headers plus the signed set. */
export function webhookHeaders(input: WebhookHeadersInput): Record<string, string> {
  const newest = input.secrets[0];
  if (newest === undefined) throw new TypeError('at least one signing secret is required');
  const seconds = Math.floor(input.timestamp.getTime() / 1000);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.customHeaders ?? {})) {
    if (!RESERVED_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  const previous = input.secrets.slice(1);
  return {
    ...headers,
    'content-type': 'application/json',
    'webhook-id': input.msgId,
    'webhook-timestamp': String(seconds),
    'webhook-signature': signatureHeader(input.secrets, input.msgId, seconds, input.body),
    'x-webhook-signature': hexBodySignature(newest, input.body),
    // During a rotation's grace period the hex signature keyed with each earlier secret still
    // in grace (newest first, space-separated), so a receiver still holding the previous secret
    // keeps verifying until it switches: it accepts a match with either header.
    ...(previous.length ? { 'x-webhook-signature-previous': previous.map((secret) => hexBodySignature(secret, input.body)).join(' ') } : {}),
  };
}
