import { z } from 'zod';
import type { HttpProvider } from '../../src/db/schema.js';
import { estimateTokens, exchangeJson, protocolError } from './exchange.js';
import type { AgentContext, AgentReply, ProviderDeps } from './types.js';

const DEFAULT_TIMEOUT_SECONDS = 60;

/** The contract a user's own agent service answers with (documented for agent authors). */
const httpAgentReplySchema = z.object({
  response: z.string(),
  usage: z.object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative() }).optional(),
  actions: z
    .array(z.object({ type: z.string().min(1), name: z.string().optional(), input: z.unknown().optional(), output: z.unknown().optional() }))
    .optional(),
});

/** Runs one turn on the user's own agent service over a plain JSON POST. */
export async function callHttpAgent(provider: HttpProvider, ctx: AgentContext, deps: ProviderDeps): Promise<AgentReply> {
  // Our body is JSON whatever the configured headers claim, so a user content-type is replaced.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(provider.headers ?? {})) {
    if (name.toLowerCase() !== 'content-type') headers[name] = value;
  }
  headers['content-type'] = 'application/json';

  const body = {
    run_id: ctx.runId,
    message: ctx.message,
    instructions: ctx.instructions,
    context: ctx.context,
    conversation: ctx.conversation,
    output_type: ctx.outputType,
    tools: ctx.tools ?? [],
  };
  const label = 'HTTP agent';
  // Header values are write-only credentials: keep them out of any error message. A server
  // that echoes `Authorization: Bearer <token>` back usually quotes the token alone, so the
  // parts of a value are secrets too.
  const secrets = Object.values(provider.headers ?? {}).flatMap((value) => [value, ...value.split(/\s+/).filter((part) => part.length >= 8)]);
  const json = await exchangeJson(
    deps,
    {
      url: provider.url,
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      timeoutMs: (provider.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    },
    label,
    secrets,
  );

  const parsed = httpAgentReplySchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw protocolError(`${label} answered an unexpected shape (expected {response: string, usage?, actions?}): ${issues}`);
  }
  const reply = parsed.data;
  return {
    text: reply.response,
    usage: reply.usage ?? {
      input_tokens: estimateTokens(ctx.instructions + ctx.message),
      output_tokens: estimateTokens(reply.response),
    },
    actions: reply.actions ?? [],
  };
}
