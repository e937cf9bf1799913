import { randomUUID } from 'node:crypto';
import type { Updateable } from 'kysely';
import { deleteTrigger, findTrigger, insertTrigger, listTriggers, updateTrigger, type TriggersTable } from '../../db/triggers.js';
import { prepareTriggerMessage } from '../../domain/triggers/message.js';
import { generateTriggerSecret, standardWebhooksKey } from '../../domain/triggers/signatures.js';
import { invalid, notFound } from '../../errors.js';
import type { AppContext, AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { agentInScope, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { publicTriggerRoutes } from './invoke.js';
import { generateTriggerToken, presentTrigger, presentTriggerWithSecret } from './presenter.js';
import {
  CreateTriggerBody,
  ListTriggersQuery,
  TestTriggerBody,
  TriggerSchema,
  TriggerTestResultSchema,
  TriggerWithSecretSchema,
  UpdateTriggerBody,
} from './schema.js';

/** The caller's trigger by path id; another org's, another agent's (agent-scoped key) or a deleted agent's is not found. */
async function triggerInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const trigger = await findTrigger(deps.db, auth.orgId, resourceId(ctx.params.id, 'Trigger'));
  if (!trigger || !canSeeAgent(auth, trigger.agent_id)) throw notFound('Trigger');
  return trigger;
}

/** Third-party triggers: any JSON payload, verified by its sender's signature scheme, starts a run. */
export function triggerRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Triggers';
  const update = (id: string, set: Updateable<TriggersTable>) => updateTrigger(deps.db, id, { ...set, updated_at: clock() });

  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/triggers',
      operationId: 'createTrigger',
      summary: 'Create a trigger: a third-party webhook (GitHub, Stripe, …) that starts runs of an agent',
      description:
        'The secret (signed schemes; generated unless you pass the sender\'s) or the token URL (scheme none) is shown only here. ' +
        'Point the sender at `invoke_url`.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: CreateTriggerBody,
      responses: { 201: { description: 'The trigger with its secret or token, shown once', schema: TriggerWithSecretSchema } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const credential =
          body.scheme === 'none'
            ? { secret: null, ...generateTriggerToken() }
            : { secret: body.secret ?? generateTriggerSecret(body.scheme), token: null, hash: null, prefix: null };
        const trigger = await insertTrigger(deps.db, {
          id: randomUUID(),
          org_id: agent.org_id,
          agent_id: agent.id,
          name: body.name,
          enabled: body.enabled,
          scheme: body.scheme,
          secret: credential.secret === null ? null : deps.secrets.seal(credential.secret),
          token_hash: credential.hash,
          token_prefix: credential.prefix,
          signature_header: body.signature_header?.toLowerCase() ?? null,
          signature_encoding: body.scheme === 'hmac-sha256' ? (body.signature_encoding ?? 'hex') : null,
          delivery_id_header: body.delivery_id_header?.toLowerCase() ?? null,
          message_template: body.message_template,
          input_schema: body.input_schema ? JSON.stringify(body.input_schema) : null,
          rate_limit_per_minute: body.rate_limit_per_minute,
          updated_at: clock(),
        });
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.set('Location', `/v1/triggers/${trigger.id}`);
        ctx.body = presentTriggerWithSecret(deps.config, { ...trigger, secret: credential.secret }, credential.token);
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents/:id/triggers',
      operationId: 'listTriggers',
      summary: 'List an agent\'s triggers, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      query: ListTriggersQuery,
      responses: { 200: { description: 'A page of triggers', schema: paginated(TriggerSchema) } },
      async handler(ctx, { query }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const { rows, pagination } = await listTriggers(deps.db, agent.id, pageRequest(query));
        ctx.body = { data: rows.map((t) => presentTrigger(deps.config, t)), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/triggers/:id',
      operationId: 'getTrigger',
      summary: 'Get a trigger (its secret is never shown again)',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      responses: { 200: { description: 'The trigger', schema: TriggerSchema } },
      async handler(ctx) {
        ctx.body = presentTrigger(deps.config, await triggerInScope(deps, ctx));
      },
    }),
    route({
      method: 'patch',
      path: '/v1/triggers/:id',
      operationId: 'updateTrigger',
      summary: 'Rename, pause (enabled), re-template, re-schema or re-key a trigger',
      description: 'The scheme cannot change: create another trigger instead.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: UpdateTriggerBody,
      responses: { 200: { description: 'The updated trigger', schema: TriggerSchema } },
      async handler(ctx, { body }) {
        const trigger = await triggerInScope(deps, ctx);
        const details: Record<string, string> = {};
        if (body.secret !== undefined && trigger.scheme === 'none') details.secret = 'scheme none takes no secret: rotate-secret replaces its token';
        if (body.secret !== undefined && trigger.scheme === 'standard-webhooks' && (standardWebhooksKey(body.secret)?.length ?? 0) < 16) {
          details.secret = 'must be whsec_ followed by base64 of at least 16 bytes';
        }
        for (const field of ['signature_header', 'signature_encoding', 'delivery_id_header'] as const) {
          if (body[field] !== undefined && trigger.scheme !== 'hmac-sha256') details[field] = 'only for scheme hmac-sha256';
        }
        if (Object.keys(details).length) throw invalid(details);
        const { input_schema, signature_header, delivery_id_header, secret, ...plain } = body;
        const updated = await update(trigger.id, {
          ...plain,
          ...(secret !== undefined ? { secret: deps.secrets.seal(secret) } : {}),
          ...(signature_header !== undefined ? { signature_header: signature_header.toLowerCase() } : {}),
          ...(delivery_id_header !== undefined ? { delivery_id_header: delivery_id_header?.toLowerCase() ?? null } : {}),
          ...(input_schema !== undefined ? { input_schema: input_schema === null ? null : JSON.stringify(input_schema) } : {}),
        });
        ctx.body = presentTrigger(deps.config, updated);
      },
    }),
    route({
      method: 'delete',
      path: '/v1/triggers/:id',
      operationId: 'deleteTrigger',
      summary: 'Delete a trigger',
      description: 'Its URL stops working at once and its secret is erased; runs it started stay readable.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const trigger = await triggerInScope(deps, ctx);
        await deleteTrigger(deps.db, trigger.id);
        ctx.status = 204;
      },
    }),
    route({
      method: 'post',
      path: '/v1/triggers/:id/rotate-secret',
      operationId: 'rotateTriggerSecret',
      summary: 'Replace a trigger\'s secret (signed schemes) or token URL (scheme none)',
      description: 'The old credential stops working at once; the new one is shown only here. Update the sender right after.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      responses: { 200: { description: 'The trigger with its new secret or token', schema: TriggerWithSecretSchema } },
      async handler(ctx) {
        const trigger = await triggerInScope(deps, ctx);
        let token: string | null = null;
        let secret: string | null = null;
        let updated;
        if (trigger.scheme === 'none') {
          const generated = generateTriggerToken();
          token = generated.token;
          updated = await update(trigger.id, { token_hash: generated.hash, token_prefix: generated.prefix });
        } else {
          secret = generateTriggerSecret(trigger.scheme);
          updated = await update(trigger.id, { secret: deps.secrets.seal(secret) });
        }
        ctx.set('Cache-Control', 'no-store');
        ctx.body = presentTriggerWithSecret(deps.config, { ...updated, secret }, token);
      },
    }),
    route({
      method: 'post',
      path: '/v1/triggers/:id/test',
      operationId: 'testTrigger',
      summary: 'Render a trigger\'s message for a sample payload, without running the agent',
      description: 'Checks the payload against the input schema and renders the template; no signature is checked and no run starts.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      body: TestTriggerBody,
      responses: { 200: { description: 'The message and whether the payload is accepted', schema: TriggerTestResultSchema } },
      async handler(ctx, { body }) {
        const trigger = await triggerInScope(deps, ctx);
        const { message, validationErrors } = await prepareTriggerMessage(trigger, body.payload, body.headers ?? {});
        ctx.body = { message, valid: validationErrors.length === 0, validationErrors };
      },
    }),
    ...publicTriggerRoutes(deps),
  ];
}
