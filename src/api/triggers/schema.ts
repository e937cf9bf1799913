import { z } from 'zod';
import { compilePayloadSchema, PayloadSchemaError } from '../../domain/triggers/payloadSchema.js';
import { standardWebhooksKey, TRIGGER_SCHEMES } from '../../domain/triggers/signatures.js';
import { parseTemplate, TEMPLATE_LIMITS, TemplateError } from '../../domain/triggers/template.js';
import { PaginationQuery, ProblemSchema, Timestamp, Uuid } from '../schemas.js';

export const Scheme = z
  .enum(TRIGGER_SCHEMES)
  .describe(
    'How requests are authenticated: `none` (a secret token URL), `standard-webhooks` (webhook-id/-timestamp/-signature), ' +
      '`github` (X-Hub-Signature-256), `stripe` (Stripe-Signature) or `hmac-sha256` (a hex or base64 HMAC of the body in `signature_header`)',
  );

const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,100}$/, 'must be an HTTP header name (letters, digits, dashes)')
  .describe('An HTTP header name (case-insensitive)');

const MessageTemplate = z
  .string()
  .min(1)
  .max(TEMPLATE_LIMITS.length)
  .superRefine((template, ctx) => {
    try {
      parseTemplate(template);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  })
  .describe(
    'Builds the run\'s message: text with `{{ payload.path }}` expressions (dotted keys, `[0]` / `[-1]` indexes, `["quoted key"]`, ' +
      '`headers.<name>`, `trigger.name`) and filters `json`, `default("…")`, `upper`, `lower`, `trim`, `truncate(n)`, `length`, `join(", ")`. ' +
      'A missing value renders as the empty string.',
  );

const InputSchema = z
  .record(z.string(), z.unknown())
  .superRefine((schema, ctx) => {
    try {
      compilePayloadSchema(schema);
    } catch (err) {
      if (!(err instanceof PayloadSchemaError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  })
  .describe('JSON Schema (2020-12) the payload must match, or a 400 with validationErrors; remote $refs are not loaded');

const Secret = z
  .string()
  .min(16)
  .max(512)
  .describe('The shared signing secret, e.g. the one Stripe shows for the endpoint (whsec_… for standard-webhooks); generated when omitted');

const RateLimit = z.number().int().min(1).max(10_000).describe('Verified invocations admitted per minute (fixed one-minute windows)');

const Name = z.string().trim().min(1).max(200);

const checkSecret = (scheme: string, secret: string | undefined, ctx: z.RefinementCtx) => {
  if (secret === undefined) return;
  if (scheme === 'none') ctx.addIssue({ code: 'custom', path: ['secret'], message: 'scheme none takes no secret: its token URL is the credential' });
  else if (scheme === 'standard-webhooks' && (standardWebhooksKey(secret)?.length ?? 0) < 16) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: 'must be whsec_ followed by base64 of at least 16 bytes' });
  }
};

export const CreateTriggerBody = z
  .object({
    name: Name,
    enabled: z.boolean().default(true),
    scheme: Scheme,
    secret: Secret.optional(),
    signature_header: HeaderName.optional().describe('hmac-sha256 only (required there): the header carrying the signature'),
    signature_encoding: z.enum(['hex', 'base64']).optional().describe('hmac-sha256 only: hex (a `sha256=` prefix is accepted) or base64; default hex'),
    delivery_id_header: HeaderName.optional().describe('hmac-sha256 only: a header with the sender\'s delivery id; repeats answer 409'),
    message_template: MessageTemplate,
    input_schema: InputSchema.optional(),
    rate_limit_per_minute: RateLimit.default(60),
  })
  .strict()
  .superRefine((body, ctx) => {
    checkSecret(body.scheme, body.secret, ctx);
    const hmacOnly = ['signature_header', 'signature_encoding', 'delivery_id_header'] as const;
    if (body.scheme === 'hmac-sha256' && !body.signature_header) {
      ctx.addIssue({ code: 'custom', path: ['signature_header'], message: 'scheme hmac-sha256 needs the header that carries the signature' });
    }
    if (body.scheme !== 'hmac-sha256') {
      for (const field of hmacOnly) {
        if (body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'only for scheme hmac-sha256' });
      }
    }
  });

/** Scheme-dependent fields (secret, hmac headers) are checked against the stored trigger's scheme. */
export const UpdateTriggerBody = z
  .object({
    name: Name.optional(),
    enabled: z.boolean().optional(),
    secret: Secret.optional().describe('Replace the signing secret with this one (signed schemes; use rotate-secret to generate one)'),
    signature_header: HeaderName.optional(),
    signature_encoding: z.enum(['hex', 'base64']).optional(),
    delivery_id_header: HeaderName.nullable().optional(),
    message_template: MessageTemplate.optional(),
    input_schema: InputSchema.nullable().optional().describe('null removes the schema'),
    rate_limit_per_minute: RateLimit.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export const ListTriggersQuery = PaginationQuery;

export const TriggerSchema = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    name: z.string(),
    enabled: z.boolean(),
    scheme: Scheme,
    signature_header: z.string().nullable(),
    signature_encoding: z.enum(['hex', 'base64']).nullable(),
    delivery_id_header: z.string().nullable(),
    message_template: z.string(),
    input_schema: z.record(z.string(), z.unknown()).nullable(),
    rate_limit_per_minute: z.number().int(),
    invoke_url: z.url().nullable().describe('Where the sender POSTs: /v1/triggers/{id}/invoke for signed schemes; null for none (its token URL is shown once)'),
    token_prefix: z.string().nullable().describe('scheme none: the token\'s first characters, e.g. trg_AbCd1234...'),
    created_at: Timestamp,
    updated_at: Timestamp,
    last_invoked_at: Timestamp.nullable().describe('When this trigger last started a run, to the minute (stamped at most once a minute)'),
  })
  .meta({ id: 'Trigger' });

export const TriggerWithSecretSchema = TriggerSchema.extend({
  invoke_url: z.url().describe('Paste this into the sender\'s webhook settings'),
  secret: z.string().nullable().describe('Signed schemes: the signing secret, shown only in this response'),
  token: z.string().nullable().describe('Scheme none: the token of invoke_url, shown only in this response'),
}).meta({ id: 'TriggerWithSecret' });

export const TestTriggerBody = z
  .object({
    payload: z.unknown().describe('A sample payload, as the sender would POST it'),
    headers: z.record(z.string(), z.string()).optional().describe('Sample request headers for `headers.*` paths'),
  })
  .strict();

export const ValidationErrorSchema = z
  .object({ path: z.string().describe('Where in the payload, e.g. payload.issue.title'), message: z.string() })
  .meta({ id: 'PayloadValidationError' });

export const TriggerTestResultSchema = z
  .object({
    message: z.string().describe('The run message this payload would produce'),
    valid: z.boolean().describe('Whether an invocation with this payload would start a run (signature aside)'),
    validationErrors: z.array(ValidationErrorSchema),
  })
  .meta({ id: 'TriggerTestResult' });

export const InvokeBody = z.unknown().describe('Any JSON, or form fields read into an object: the sender\'s payload. Signatures are checked over the exact bytes sent.');

export const InvocationsSchema = z
  .object({
    success: z.literal(true),
    invocations: z.array(
      z.object({
        conversation_id: Uuid,
        invocation_id: Uuid.describe('The run id: GET /v1/runs/{invocation_id}'),
        run_as_user_id: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: 'TriggerInvocations' });

export const PayloadProblemSchema = ProblemSchema.extend({
  validationErrors: z.array(ValidationErrorSchema).optional().describe('How the payload misses the trigger\'s input schema'),
}).meta({ id: 'PayloadProblem', description: 'RFC 9457 problem details; validationErrors when the payload misses the input schema' });
