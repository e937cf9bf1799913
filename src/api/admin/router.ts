import { z } from 'zod';
import { CreditsUnavailable, grantCredits } from '../../db/credits.js';
import { findOrg } from '../../db/orgs.js';
import { setOrgConcurrency } from '../../db/runQueue.js';
import { setOrgDataSettings } from '../../db/retention.js';
import { AppError, notFound } from '../../errors.js';
import { createOrgWithKey } from '../../services/orgs.js';
import { CreatedApiKeySchema } from '../apiKeys/schema.js';
import type { AppDeps } from '../context.js';
import { presentCreditEntry } from '../credits/presenter.js';
import { CreditEntrySchema, GrantCreditsBody } from '../credits/schema.js';
import { route, type RouteSpec } from '../route.js';
import { Timestamp, Uuid } from '../schemas.js';
import { resourceId } from '../validate.js';
import { presentCreatedOrg } from './presenter.js';

const CreateOrgBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    credits: z.number().int().min(0).max(1_000_000_000).optional().describe('Opening credit grant (default 0)'),
  })
  .strict();

const UpdateOrgLimitsBody = z
  .object({
    max_concurrent_runs: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .nullable()
      .describe('Runs of all the org\'s agents processing at once; more wait as `queued` in order of arrival (null: no cap)'),
  })
  .strict();

const OrgLimitsSchema = z.object({ id: Uuid, name: z.string(), max_concurrent_runs: z.number().int().nullable() }).meta({ id: 'OrgLimits' });

const OrgSchema = z.object({ id: Uuid, name: z.string(), created_at: Timestamp }).meta({ id: 'Org' });

const UpdateOrgBody = z
  .object({
    retention_days: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .nullable()
      .optional()
      .describe('Days the org\'s runs (with their messages, events, deliveries and attempts) are kept; null = the operator\'s RETENTION_DAYS'),
    event_log: z
      .enum(['subscribed', 'all'])
      .nullable()
      .optional()
      .describe(
        'Which customer events the org stores: `subscribed` = those an enabled endpoint subscribes to (plus wallet.balance_low and endpoint.disabled), ' +
          '`all` = every event, kept for the retention window so GET /v1/events lists them with or without endpoints; null = the operator\'s EVENT_LOG',
      ),
  })
  .strict();

const OrgSettingsSchema = OrgSchema.extend({
  retention_days: z.number().int().nullable().describe('null: the operator default (RETENTION_DAYS) applies'),
  event_log: z.enum(['subscribed', 'all']).nullable().describe('null: the operator default (EVENT_LOG, `subscribed`) applies'),
}).meta({ id: 'OrgSettings' });

export function adminRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Admin';
  return [
    route({
      method: 'post',
      path: '/v1/admin/orgs',
      operationId: 'adminCreateOrg',
      summary: 'Create an organization and its first API key',
      description:
        'Operator only (ADMIN_TOKEN). The key has every scope and is shown once, in `api_key.key`, as is `callback_secret`, the `whsec_` secret that signs ' +
        'the org\'s run callbacks (readable later by a `keys:write` key at `GET /v1/callback-secret`); `npm run cli -- org create` prints the same shape.',
      tag,
      auth: { kind: 'admin' },
      body: CreateOrgBody,
      responses: {
        201: {
          description: 'The org and its first key',
          schema: z.object({
            org: OrgSchema,
            api_key: CreatedApiKeySchema,
            callback_secret: z.string().describe('whsec_… secret that signs the org\'s run callbacks'),
            balance: z.number().int(),
          }),
        },
      },
      async handler(ctx, { body }) {
        const created = await createOrgWithKey(deps.db, body, deps.secrets, deps.clock());
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = presentCreatedOrg(created, body.credits ?? 0);
      },
    }),
    route({
      method: 'patch',
      path: '/v1/admin/orgs/:id',
      operationId: 'adminUpdateOrg',
      summary: 'Set an organization\'s data retention and event log',
      description:
        'Operator only (ADMIN_TOKEN). Runs older than `retention_days` are deleted with their messages, events, deliveries and attempts by the ' +
        'hourly retention purge (runs still processing or holding credits are kept until they end); the credit ledger is never purged. ' +
        '`event_log` decides which customer events are stored at all: by default only those an enabled endpoint subscribes to. Fields left out stay as they are.',
      tag,
      auth: { kind: 'admin' },
      body: UpdateOrgBody,
      responses: { 200: { description: 'The org with its retention', schema: OrgSettingsSchema } },
      async handler(ctx, { body }) {
        const org = await setOrgDataSettings(deps.db, resourceId(ctx.params.id, 'Organization'), body);
        if (!org) throw notFound('Organization');
        ctx.body = { id: org.id, name: org.name, created_at: org.created_at.toISOString(), retention_days: org.retention_days, event_log: org.event_log };
      },
    }),
    route({
      method: 'post',
      path: '/v1/admin/orgs/:id/credits',
      operationId: 'adminGrantCredits',
      summary: 'Grant (or correct) an organization\'s credits',
      tag,
      auth: { kind: 'admin' },
      body: GrantCreditsBody,
      responses: {
        201: { description: 'The ledger entry and the new balance', schema: z.object({ entry: CreditEntrySchema, balance: z.number().int() }) },
      },
      errors: [409],
      async handler(ctx, { body }) {
        const org = await findOrg(deps.db, resourceId(ctx.params.id, 'Organization'));
        if (!org) throw notFound('Organization');
        try {
          const { entry, balance } = await grantCredits(deps.db, { orgId: org.id, amount: body.amount, reason: body.reason });
          ctx.status = 201;
          ctx.body = { entry: presentCreditEntry(entry), balance };
        } catch (err) {
          if (!(err instanceof CreditsUnavailable)) throw err;
          // A correction may not take back credits that runs in progress hold, nor go below zero.
          throw new AppError(409, 'CONFLICT', `A correction of ${body.amount} would leave the balance below what runs in progress hold`, undefined, undefined, {
            balance: err.wallet.balance,
            held: err.wallet.held,
            available: err.wallet.available,
          });
        }
      },
    }),
    route({
      method: 'patch',
      path: '/v1/admin/orgs/:id/limits',
      operationId: 'adminUpdateOrgLimits',
      summary: 'Set an organization\'s org-wide concurrency cap',
      description:
        'Operator only. Runs over the cap (or over an agent\'s own `max_concurrent_runs`) wait as `queued` and start in order of arrival as slots free.',
      tag,
      auth: { kind: 'admin' },
      body: UpdateOrgLimitsBody,
      responses: { 200: { description: 'The org\'s limits', schema: OrgLimitsSchema } },
      async handler(ctx, { body }) {
        const updated = await setOrgConcurrency(deps.db, resourceId(ctx.params.id, 'Organization'), body.max_concurrent_runs);
        if (!updated) throw notFound('Organization');
        ctx.body = updated;
      },
    }),
  ];
}
