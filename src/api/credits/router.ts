import type { CreditEntry } from '../../db/schema.js';
import { listCreditEntries, readWallet } from '../../db/credits.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest } from '../schemas.js';
import { CreditsQuery, CreditsSchema } from './schema.js';

export function presentCreditEntry(entry: CreditEntry) {
  return {
    id: entry.id,
    kind: entry.kind,
    amount: Number(entry.amount),
    reason: entry.reason,
    run_id: entry.run_id,
    created_at: entry.created_at.toISOString(),
  };
}

export function creditRoutes(deps: AppDeps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/v1/credits',
      operationId: 'getCredits',
      summary: 'Credit balance, holds and ledger',
      tag: 'Credits',
      auth: { kind: 'apiKey', scope: 'credits:read' },
      query: CreditsQuery,
      responses: { 200: { description: 'Balance and a page of ledger entries', schema: CreditsSchema } },
      async handler(ctx, { query }) {
        const { orgId, agentId } = authOf(ctx);
        const [wallet, { rows, pagination }] = await Promise.all([readWallet(deps.db, orgId), listCreditEntries(deps.db, orgId, { agentId }, pageRequest(query))]);
        ctx.body = { ...wallet, data: rows.map(presentCreditEntry), pagination };
      },
    }),
  ];
}
