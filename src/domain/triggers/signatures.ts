import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * How a trigger knows a request really comes from its sender. Each verifier follows the
 * sender's own documented scheme, over the exact bytes received, and compares in constant time.
 *
 * - `none`: no signature; the secret is the trigger's token URL (`/api/triggers/trg_…`).
 * - `standard-webhooks`: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
 *   (Svix's `svix-*` header names too); HMAC-SHA256 of `id.timestamp.body`, key = the
 *   base64 part of `whsec_…`; timestamp within 5 minutes; the id identifies the delivery.
 * - `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`; `X-GitHub-Delivery`.
 * - `stripe`: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`; t within the
 *   tolerance; the event's `id` identifies the delivery.
 * - `hmac-sha256`: hex (optionally `sha256=`-prefixed) or base64 HMAC-SHA256 of the body in a
 *   header of the trigger's choosing; optionally a delivery id header.
 */
export const TRIGGER_SCHEMES = ['none', 'standard-webhooks', 'github', 'stripe', 'hmac-sha256'] as const;
export type TriggerScheme = (typeof TRIGGER_SCHEMES)[number];
export type SignatureEncoding = 'hex' | 'base64';

/** Replay window of the timestamped schemes. */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

export interface TriggerVerification {
  scheme: TriggerScheme;
  /** The shared HMAC secret (null for `none`). */
  secret: string | null;
  /** `hmac-sha256` only. */
  signatureHeader?: string | null;
  signatureEncoding?: SignatureEncoding | null;
  deliveryIdHeader?: string | null;
}

export interface InboundRequest {
  rawBody: Buffer;
  /** Header value by (case-insensitive) name; undefined when absent or empty. */
  header(name: string): string | undefined;
  /** The parsed body: Stripe's event id lives there. */
  payload: unknown;
  now: Date;
}

export type VerifyResult = { ok: true; deliveryId: string | null } | { ok: false; reason: string };

const fail = (reason: string): VerifyResult => ({ ok: false, reason });
const WHSEC = 'whsec_';
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A fresh secret for a signed scheme: `whsec_` + 32 random bytes for Standard Webhooks, else 64 hex characters. */
export function generateTriggerSecret(scheme: Exclude<TriggerScheme, 'none'>): string {
  return scheme === 'standard-webhooks' ? `${WHSEC}${randomBytes(32).toString('base64')}` : randomBytes(32).toString('hex');
}

/** The HMAC key a Standard Webhooks secret stands for; null when it is not `whsec_`/base64. */
export function standardWebhooksKey(secret: string): Buffer | null {
  const encoded = secret.startsWith(WHSEC) ? secret.slice(WHSEC.length) : secret;
  return BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : null;
}

function hmac(key: string | Buffer, ...chunks: Array<string | Buffer>): Buffer {
  const mac = createHmac('sha256', key);
  for (const chunk of chunks) mac.update(chunk);
  return mac.digest();
}

/** Constant-time on equal lengths; a length mismatch says nothing about the secret. */
function sameBytes(expected: Buffer, presented: Buffer): boolean {
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}

function decodeHex(value: string): Buffer | null {
  return HEX_SHA256.test(value) ? Buffer.from(value, 'hex') : null;
}

function decodeBase64(value: string): Buffer | null {
  return BASE64.test(value) ? Buffer.from(value, 'base64') : null;
}

function withinTolerance(timestampSeconds: number, now: Date): boolean {
  return Math.abs(now.getTime() / 1000 - timestampSeconds) <= TIMESTAMP_TOLERANCE_SECONDS;
}

export function verifyStandardWebhooks(secret: string, req: InboundRequest): VerifyResult {
  const key = standardWebhooksKey(secret);
  if (!key) return fail('the trigger secret is not a whsec_ secret');
  // Svix, the most common Standard Webhooks sender, uses svix-* names for the same headers.
  const id = req.header('webhook-id') ?? req.header('svix-id');
  const timestamp = req.header('webhook-timestamp') ?? req.header('svix-timestamp');
  const signatures = req.header('webhook-signature') ?? req.header('svix-signature');
  if (!id || !timestamp || !signatures) return fail('missing webhook-id, webhook-timestamp or webhook-signature header');
  if (!/^\d{1,12}$/.test(timestamp)) return fail('webhook-timestamp must be Unix seconds');
  const expected = hmac(key, `${id}.${timestamp}.`, req.rawBody);
  const matches = signatures
    .split(' ')
    .map((entry) => entry.split(','))
    .some(([version, signature]) => version === 'v1' && signature !== undefined && sameBytes(expected, decodeBase64(signature) ?? Buffer.alloc(0)));
  if (!matches) return fail('no webhook-signature matches');
  // Checked after the signature: only a genuine (signed) timestamp is worth reporting as stale.
  if (!withinTolerance(Number(timestamp), req.now)) return fail(`webhook-timestamp is more than ${TIMESTAMP_TOLERANCE_SECONDS} seconds from now`);
  return { ok: true, deliveryId: id };
}

export function verifyGithub(secret: string, req: InboundRequest): VerifyResult {
  const header = req.header('x-hub-signature-256');
  if (!header) return fail('missing X-Hub-Signature-256 header');
  const presented = header.startsWith('sha256=') ? decodeHex(header.slice('sha256='.length)) : null;
  if (!presented || !sameBytes(hmac(secret, req.rawBody), presented)) return fail('X-Hub-Signature-256 does not match');
  return { ok: true, deliveryId: req.header('x-github-delivery') ?? null };
}

export function verifyStripe(secret: string, req: InboundRequest): VerifyResult {
  const header = req.header('stripe-signature');
  if (!header) return fail('missing Stripe-Signature header');
  let timestamp: string | undefined;
  const v1: Buffer[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) continue;
    const [name, value] = [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
    if (name === 't') timestamp = value;
    else if (name === 'v1') v1.push(decodeHex(value) ?? Buffer.alloc(0));
  }
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || v1.length === 0) return fail('Stripe-Signature needs t= and v1= elements');
  // Stripe keys the HMAC with the whole secret string (whsec_ included), unlike Standard Webhooks.
  const expected = hmac(secret, `${timestamp}.`, req.rawBody);
  if (!v1.some((signature) => sameBytes(expected, signature))) return fail('no Stripe-Signature v1 matches');
  if (!withinTolerance(Number(timestamp), req.now)) return fail(`Stripe-Signature t is more than ${TIMESTAMP_TOLERANCE_SECONDS} seconds from now`);
  const payload = req.payload as { id?: unknown } | null;
  const eventId = payload !== null && typeof payload === 'object' && typeof payload.id === 'string' ? payload.id : null;
  return { ok: true, deliveryId: eventId };
}

export function verifyHmacSha256(
  secret: string,
  req: InboundRequest,
  options: { header: string; encoding?: SignatureEncoding | null; deliveryIdHeader?: string | null },
): VerifyResult {
  const header = req.header(options.header);
  if (!header) return fail(`missing ${options.header} header`);
  const presented =
    options.encoding === 'base64' ? decodeBase64(header.trim()) : decodeHex(header.trim().replace(/^sha256=/, ''));
  if (!presented || !sameBytes(hmac(secret, req.rawBody), presented)) return fail(`${options.header} does not match`);
  return { ok: true, deliveryId: options.deliveryIdHeader ? (req.header(options.deliveryIdHeader) ?? null) : null };
}

/** Verifies a request against a signed trigger's scheme. `none` never verifies here: its token URL is the credential. */
export function verifyTriggerRequest(trigger: TriggerVerification, req: InboundRequest): VerifyResult {
  if (trigger.scheme === 'none' || !trigger.secret) return fail('this trigger takes no signature: call its token URL');
  switch (trigger.scheme) {
    case 'standard-webhooks':
      return verifyStandardWebhooks(trigger.secret, req);
    case 'github':
      return verifyGithub(trigger.secret, req);
    case 'stripe':
      return verifyStripe(trigger.secret, req);
    case 'hmac-sha256':
      if (!trigger.signatureHeader) return fail('the trigger has no signature header configured');
      return verifyHmacSha256(trigger.secret, req, {
        header: trigger.signatureHeader,
        encoding: trigger.signatureEncoding,
        deliveryIdHeader: trigger.deliveryIdHeader,
      });
  }
}
