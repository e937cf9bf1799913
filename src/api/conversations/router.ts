import { z } from 'zod';
import { publicUrl } from '../../config.js';
import { findConversation, latestConversationMessages, listConversationMessages, type Message } from '../../db/conversations.js';
import { AppError, notFound } from '../../errors.js';
import { CALLBACK_SECRET_OWNER, currentSecret, rotateSecret } from '../../services/signingSecrets.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { PaginationQuery, pageRequest, paginated, Timestamp, Uuid } from '../schemas.js';
import { resourceId } from '../validate.js';

/** Messages GET /v1/conversations/{id} embeds; a long conversation is read page by page. */
const EMBEDDED_MESSAGES = 100;

const MessageSchema = z
  .object({ id: Uuid, role: z.enum(['user', 'assistant']), content: z.string(), run_id: Uuid.nullable(), created_at: Timestamp })
  .meta({ id: 'ConversationMessage' });

const presentMessage = (m: Message) => ({ id: m.id, role: m.role, content: m.content, run_id: m.run_id, created_at: m.created_at.toISOString() });

const ConversationSchema = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    subject: z.string().nullable(),
    external_user_id: z.string().nullable().describe('The caller-side user (webhook user_id)'),
    created_at: Timestamp,
    updated_at: Timestamp,
    messages: z
      .array(MessageSchema)
      .describe(`The latest ${EMBEDDED_MESSAGES} messages, oldest first; older ones are read with GET /v1/conversations/{id}/messages`),
    messages_truncated: z.boolean().describe(`True when the conversation has more than the ${EMBEDDED_MESSAGES} messages embedded here`),
    links: z.object({ messages: z.url().describe('Every message, newest first, cursor-paginated') }),
  })
  .meta({ id: 'Conversation' });

const SecretSchema = z
  .object({
    secret: z.string().describe('whsec_… — shown only in this response'),
    previous_valid_until: Timestamp.nullable().describe('Until then, callbacks are also signed with the previous secret'),
  })
  .meta({ id: 'RotatedSecret' });

const CurrentSecretSchema = z.object({ secret: z.string().describe('whsec_… current callback signing secret') }).meta({ id: 'CallbackSecret' });

const CALLBACK_SECRET_GRACE_MS = 24 * 3_600_000;

export function conversationRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  async function conversationInScope(ctx: Parameters<RouteSpec['handler']>[0]) {
    const auth = authOf(ctx);
    const conversation = await findConversation(deps.db, auth.orgId, resourceId(ctx.params.id, 'Conversation'));
    if (!conversation || !canSeeAgent(auth, conversation.agent_id)) throw notFound('Conversation');
    return conversation;
  }
  return [
    route({
      method: 'get',
      path: '/v1/conversations/:id',
      operationId: 'getConversation',
      summary: 'Get a conversation with its latest messages',
      tag: 'Conversations',
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 200: { description: `The conversation with its latest ${EMBEDDED_MESSAGES} messages, oldest first`, schema: ConversationSchema } },
      async handler(ctx) {
        const conversation = await conversationInScope(ctx);
        const { messages, truncated } = await latestConversationMessages(deps.db, conversation.id, EMBEDDED_MESSAGES);
        ctx.body = {
          id: conversation.id,
          agent_id: conversation.agent_id,
          subject: conversation.subject,
          external_user_id: conversation.external_user_id,
          created_at: conversation.created_at.toISOString(),
          updated_at: conversation.updated_at.toISOString(),
          messages: messages.map(presentMessage),
          messages_truncated: truncated,
          links: { messages: `${publicUrl(deps.config)}/v1/conversations/${conversation.id}/messages` },
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/conversations/:id/messages',
      operationId: 'listConversationMessages',
      summary: 'List a conversation\'s messages, newest first',
      tag: 'Conversations',
      auth: { kind: 'apiKey', scope: 'runs:read' },
      query: PaginationQuery,
      responses: { 200: { description: 'A page of messages', schema: paginated(MessageSchema) } },
      async handler(ctx, { query }) {
        const conversation = await conversationInScope(ctx);
        const { rows, pagination } = await listConversationMessages(deps.db, conversation.id, pageRequest(query));
        ctx.body = { data: rows.map(presentMessage), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/callback-secret',
      operationId: 'getCallbackSecret',
      summary: 'Read the secret that signs run callbacks',
      description:
        'The org\'s current `whsec_` callback secret (created now if the org has none yet), so the very first callback can be verified. ' +
        'Every callback\'s `webhook-signature` and `X-Webhook-Signature` are signed with it.',
      tag: 'Runs',
      auth: { kind: 'apiKey', scope: 'keys:write' },
      responses: { 200: { description: 'The current secret', schema: CurrentSecretSchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        if (auth.agentId) throw new AppError(403, 'FORBIDDEN', 'The callback secret is org-wide: use an org-wide key');
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { secret: await currentSecret(deps.db, deps.secrets, auth.orgId, CALLBACK_SECRET_OWNER, clock()) };
      },
    }),
    route({
      method: 'post',
      path: '/v1/callback-secret/rotate',
      operationId: 'rotateCallbackSecret',
      summary: 'Create or rotate the secret that signs run callbacks',
      description:
        'Callbacks carry Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) signed with this org-wide secret. ' +
        'The previous secret keeps signing alongside the new one for 24 hours (its hex signature in `X-Webhook-Signature-Previous`).',
      tag: 'Runs',
      auth: { kind: 'apiKey', scope: 'keys:write' },
      responses: { 201: { description: 'The new secret, shown once', schema: SecretSchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        if (auth.agentId) throw new AppError(403, 'FORBIDDEN', 'The callback secret is org-wide: use an org-wide key');
        const rotated = await rotateSecret(deps.db, deps.secrets, auth.orgId, CALLBACK_SECRET_OWNER, clock(), CALLBACK_SECRET_GRACE_MS);
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { secret: rotated.secret, previous_valid_until: rotated.previousValidUntil?.toISOString() ?? null };
      },
    }),
  ];
}
