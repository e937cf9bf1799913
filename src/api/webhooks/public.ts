import type { RunOutcome } from '../../../workflows/definitions.js';
import { publicUrl } from '../../config.js';
import { findAgentById } from '../../db/agents.js';
import { findConversationOfAgent, findLatestConversationOfUser } from '../../db/conversations.js';
import { findRunById } from '../../db/runs.js';
import type { Run } from '../../db/schema.js';
import { AppError, invalid, notFound } from '../../errors.js';
import { startRun } from '../../services/runs.js';
import type { AppContext, AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';
import { admitCall, findByToken, markUsed, webhookTokens } from '../tokenUrls.js';
import { resourceId } from '../validate.js';
import { findRunByLiveIdempotencyKey } from '../../db/retention.js';
import type { z } from 'zod';
import { WebhookCallBody, WebhookPendingSchema, WebhookReplySchema, WebhookRunSchema } from './schema.js';

/**
 * The token of a header-authenticated call: `X-Webhook-Token: whk_…` or `Authorization: Bearer
 * whk_…`, so it can live in an automation tool's credential store instead of URLs and logs.
 */
function tokenFromHeaders(ctx: AppContext): string | undefined {
  const header = ctx.get('x-webhook-token').trim();
  if (header) return header;
  return /^Bearer\s+(whk_\S+)\s*$/i.exec(ctx.get('authorization'))?.[1];
}

/** Where the token came from decides the status URL: a header caller's URL carries no token. */
type TokenVia = { token: string; inHeader: boolean };

function statusUrl(deps: AppDeps, via: TokenVia, runId: string) {
  return via.inHeader ? `${publicUrl(deps.config)}/api/webhook/runs/${runId}` : `${publicUrl(deps.config)}/api/webhook/${via.token}/runs/${runId}`;
}

const TOKEN_HEADERS = {
  'X-Webhook-Token': 'The token (whk_…), instead of the path; `Authorization: Bearer whk_…` works too',
};

/** `Prefer: wait=<seconds>` (RFC 7240) or `respond-async`; other preferences are ignored. */
function preferredWait(header: string): { wait?: number; respondAsync: boolean } {
  let wait: number | undefined;
  let respondAsync = false;
  for (const part of header.split(',')) {
    const preference = part.split(';')[0]!.trim();
    const asked = /^wait\s*=\s*"?(\d{1,6})"?$/i.exec(preference);
    if (asked) wait = Number(asked[1]);
    else if (/^respond-async$/i.test(preference)) respondAsync = true;
  }
  return { wait, respondAsync };
}

/** Answers from a stored run: the reply, a problem naming the run, or "still working". */
function answer(deps: AppDeps, ctx: AppContext, via: TokenVia, run: Run, outcome?: RunOutcome, timeoutStatus: 202 | 504 = 202) {
  const status = outcome?.status ?? run.status;
  const runId = { run_id: run.id };
  if (status === 'completed') {
    ctx.body = {
      response: outcome?.result ?? run.result ?? '',
      conversation_id: run.conversation_id,
      credits_used: outcome?.credits_used ?? run.credits_used,
      run_id: run.id,
    };
    return;
  }
  if (status === 'failed') throw new AppError(502, 'AGENT_FAILED', 'The agent could not answer this message', undefined, undefined, runId);
  if (status === 'timed_out') throw new AppError(504, 'AGENT_TIMED_OUT', 'The agent did not answer in time', undefined, undefined, runId);
  if (status === 'cancelled') throw new AppError(409, 'CONFLICT', 'The run was cancelled', undefined, undefined, runId);
  const pending = { run_id: run.id, status: 'processing' as const, status_url: statusUrl(deps, via, run.id), conversation_id: run.conversation_id };
  if (timeoutStatus === 504) {
    throw new AppError(504, 'SYNC_WAIT_EXCEEDED', 'The agent is still working: poll status_url, or call again with the same Idempotency-Key', undefined, undefined, {
      run_id: run.id,
      status_url: pending.status_url,
    });
  }
  ctx.status = 202;
  ctx.body = pending;
}

type CallBody = z.output<typeof WebhookCallBody>;

/**
 * One call of a token URL: authenticate by token, replay an Idempotency-Key, rate-limit, start
 * the run and wait for its outcome as long as the caller prefers (capped).
 */
async function callWebhook(deps: AppDeps, ctx: AppContext, body: CallBody, via: TokenVia) {
  const webhook = await findByToken(deps, ctx, webhookTokens, via.token);

  const key = ctx.get('idempotency-key') || null;
  if (key !== null && !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw invalid({ 'Idempotency-Key': 'must be 1–255 visible ASCII characters' }, 400);
  }
  // Keys are the webhook's own: the same key on another token URL or the API is another run.
  const idempotencyKey = key ? `webhook:${webhook.id}:${key}` : null;
  const replay = idempotencyKey
    ? await findRunByLiveIdempotencyKey(deps.db, webhook.org_id, idempotencyKey)
    : undefined;

  // A replay costs nothing and starts nothing, so it is answered even when the window is full:
  // an automation tool retrying a batch gets its earlier replies back instead of more 429s.
  if (!replay) await admitCall(deps, ctx, webhookTokens, webhook);
  const agent = await findAgentById(deps.db, webhook.agent_id);
  if (!agent) throw notFound('Webhook');

  // The same user on the same webhook continues their latest conversation.
  let conversationId = body.conversation_id ?? null;
  if (conversationId) {
    const own = await findConversationOfAgent(deps.db, { id: conversationId, agentId: agent.id });
    if (!own) throw invalid({ conversation_id: 'no such conversation for this agent' }, 400);
  } else if (body.user_id && !replay) {
    const latest = await findLatestConversationOfUser(deps.db, webhook.id, body.user_id);
    conversationId = latest?.id ?? null;
  }

  const prefer = preferredWait(ctx.get('prefer'));
  const cap = Math.max(deps.config.SYNC_WAIT_MAX_SECONDS, deps.config.SYNC_WAIT_SECONDS);
  let waitSeconds = deps.config.SYNC_WAIT_SECONDS;
  let preferenceApplied: string | undefined;
  if (prefer.wait !== undefined) {
    waitSeconds = Math.min(prefer.wait, cap);
    preferenceApplied = `wait=${waitSeconds}`;
  } else if (prefer.respondAsync) {
    waitSeconds = 0;
    preferenceApplied = 'respond-async';
  }

  // Starting the run and waiting for its stored outcome are one engine call (Update-with-Start,
  // see runOutcomeUpdate for why an update and not the workflow result); past the wait the
  // caller gets 202 (or the webhook's 504) and polls.
  const { run, created, outcome } = await startRun(
    { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log, clock: deps.clock },
    {
      agent,
      message: body.message,
      source: 'webhook',
      subject: `Webhook (${webhook.name})`,
      context: body.context,
      metadata: body.metadata,
      callbackUrl: webhook.outgoing_url,
      conversationId,
      externalUserId: body.user_id ?? null,
      inboundWebhookId: webhook.id,
      idempotencyKey,
      requestFingerprint: { message: body.message, user_id: body.user_id, conversation_id: body.conversation_id, context: body.context, metadata: body.metadata },
    },
    { awaitOutcomeMs: waitSeconds * 1000 },
  );
  if (preferenceApplied) ctx.set('Preference-Applied', preferenceApplied);
  if (!created) ctx.set('Idempotent-Replayed', 'true');
  else await markUsed(deps, webhookTokens, webhook);

  // With an outcome in hand the answer needs no further read. Asked to respond asynchronously,
  // the caller gets its 202 whatever the webhook's timeout answer is.
  const stored = outcome ? run : ((await findRunById(deps.db, run.id)) ?? run);
  answer(deps, ctx, via, stored, outcome, prefer.respondAsync && prefer.wait === undefined ? 202 : webhook.sync_timeout_status);
}

async function presentWebhookRun(deps: AppDeps, ctx: AppContext, token: string | undefined) {
  const webhook = await findByToken(deps, ctx, webhookTokens, token);
  const run = await findRunById(deps.db, resourceId(ctx.params.runId, 'Run'));
  if (!run || run.inbound_webhook_id !== webhook.id) throw notFound('Run');
  ctx.body = {
    run_id: run.id,
    status: run.status,
    response: run.result,
    conversation_id: run.conversation_id,
    credits_used: run.credits_used,
    created_at: run.created_at.toISOString(),
    completed_at: run.completed_at?.toISOString() ?? null,
  };
}

const CALL_DESCRIPTION =
  'No other credentials: the token is the auth. Answers 200 with the reply when the agent finishes within SYNC_WAIT_SECONDS ' +
  '(or the `Prefer: wait=<seconds>` you send, capped at SYNC_WAIT_MAX_SECONDS and echoed in `Preference-Applied`), otherwise 202 with a ' +
  'status_url to poll, or 504 SYNC_WAIT_EXCEEDED when the webhook\'s sync_timeout_status is 504. `Prefer: respond-async` answers 202 at once. ' +
  'The same `user_id` continues one conversation. An `Idempotency-Key` makes retries safe: the same key and body return the same run ' +
  '(and its reply) without a second run or charge, even when the rate limit is spent (`Idempotent-Replayed: true`). Rate-limited per webhook ' +
  '(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; 429 with `Retry-After` in seconds). ' +
  'The body may be JSON or form fields (urlencoded or multipart, no file parts): `context[region]=APAC` or ' +
  '`context={"region":"APAC"}` for the nested `context` and `metadata`.';

/** Zapier posts forms by default: the nested fields may also come as one JSON-string field. */
const WEBHOOK_FORMS = { jsonFields: ['context', 'metadata'] };

const CALL_HEADERS = {
  'Idempotency-Key': '1–255 visible ASCII characters; a retry with the same key and body returns the same run without running or charging again',
  Prefer: '`wait=<seconds>` to wait that long for the reply (capped at SYNC_WAIT_MAX_SECONDS), or `respond-async` for an immediate 202',
};

const CALL_RESPONSE_HEADERS = {
  'Preference-Applied': 'The wait applied, e.g. `wait=60`, when a Prefer header was sent',
  'Idempotent-Replayed': '`true` when the answer is an earlier run of the same Idempotency-Key',
  'RateLimit-Remaining': 'Calls left in the current window',
};

export function publicWebhookRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Inbound webhooks';
  const responses = {
    200: { description: 'The agent\'s reply', schema: WebhookReplySchema, headers: CALL_RESPONSE_HEADERS },
    202: { description: 'Still working: poll status_url', schema: WebhookPendingSchema, headers: CALL_RESPONSE_HEADERS },
  };
  return [
    route({
      method: 'post',
      path: '/api/webhook/:token',
      operationId: 'callWebhook',
      summary: 'Message an agent through its token URL and get the reply',
      description: CALL_DESCRIPTION,
      tag,
      auth: { kind: 'public' },
      body: WebhookCallBody,
      forms: WEBHOOK_FORMS,
      requestHeaders: CALL_HEADERS,
      invalidStatus: 400,
      errors: [402, 404, 409, 422, 429, 502, 503, 504],
      responses,
      async handler(ctx, { body }) {
        await callWebhook(deps, ctx, body, { token: ctx.params.token!, inHeader: false });
      },
    }),
    route({
      method: 'post',
      path: '/api/webhook',
      operationId: 'callWebhookWithTokenHeader',
      summary: 'Message an agent with the token in a header',
      description: `The same call with the token in \`X-Webhook-Token\` (or \`Authorization: Bearer whk_…\`) instead of the path. ${CALL_DESCRIPTION}`,
      tag,
      auth: { kind: 'public' },
      body: WebhookCallBody,
      forms: WEBHOOK_FORMS,
      requestHeaders: { ...TOKEN_HEADERS, ...CALL_HEADERS },
      invalidStatus: 400,
      errors: [402, 404, 409, 422, 429, 502, 503, 504],
      responses,
      async handler(ctx, { body }) {
        await callWebhook(deps, ctx, body, { token: tokenFromHeaders(ctx) ?? '', inHeader: true });
      },
    }),
    route({
      method: 'get',
      path: '/api/webhook/:token/runs/:runId',
      operationId: 'getWebhookRun',
      summary: 'Poll a run started through this token URL',
      tag,
      auth: { kind: 'public' },
      responses: { 200: { description: 'The run', schema: WebhookRunSchema } },
      async handler(ctx) {
        await presentWebhookRun(deps, ctx, ctx.params.token);
      },
    }),
    route({
      method: 'get',
      path: '/api/webhook/runs/:runId',
      operationId: 'getWebhookRunWithTokenHeader',
      summary: 'Poll a run started through a token URL, with the token in a header',
      tag,
      auth: { kind: 'public' },
      requestHeaders: TOKEN_HEADERS,
      responses: { 200: { description: 'The run', schema: WebhookRunSchema } },
      async handler(ctx) {
        await presentWebhookRun(deps, ctx, tokenFromHeaders(ctx));
      },
    }),
  ];
}
