import { listCreditEntries, readWallet } from '../../db/credits.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest } from '../schemas.js';
import { presentCreditEntry } from './presenter.js';
import { CreditsQuery, CreditsSchema } from './schema.js';

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
