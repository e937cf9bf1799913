import { z } from 'zod';
import { estimateTokens, exchangeJson, protocolError } from './exchange.js';
import type { AgentAction, AgentContext, AgentReply, ProviderDeps } from './types.js';

/** Completions can take minutes on slow local models; heartbeats keep the activity alive meanwhile. */
const TIMEOUT_MS = 120_000;
const JSON_HINT = 'Respond with a single JSON object.';

type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

const completionSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(z.object({ type: z.string().optional(), function: z.object({ name: z.string(), arguments: z.string().optional() }) }))
            .nullish(),
        }),
      }),
    )
    .min(1),
  usage: z.object({ prompt_tokens: z.number().int().nonnegative().optional(), completion_tokens: z.number().int().nonnegative().optional() }).nullish(),
});

/** Where one run's completion goes: resolved from the agent by `resolveOpenAiTarget`, key already opened. */
export interface OpenAiTarget {
  baseUrl: string;
  apiKey: string | undefined;
  model: string;
  temperature?: number;
  max_tokens?: number;
}

/** Runs one turn against any OpenAI-compatible chat-completions API (OpenAI, Ollama, vLLM, LiteLLM …). */
export async function callOpenAi(provider: OpenAiTarget, ctx: AgentContext, deps: ProviderDeps): Promise<AgentReply> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const secrets: string[] = [];
  if (provider.apiKey) {
    headers.authorization = `Bearer ${provider.apiKey}`;
    secrets.push(provider.apiKey);
  }

  const messages = buildMessages(ctx);
  const body = {
    model: provider.model,
    messages,
    ...(provider.temperature !== undefined && { temperature: provider.temperature }),
    ...(provider.max_tokens !== undefined && { max_tokens: provider.max_tokens }),
    ...(ctx.outputType === 'json' && { response_format: { type: 'json_object' } }),
  };

  const label = `OpenAI-compatible provider (model ${provider.model})`;
  const json = await exchangeJson(
    deps,
    { url: chatCompletionsUrl(provider.baseUrl), method: 'POST', headers, body: JSON.stringify(body), timeoutMs: TIMEOUT_MS },
    label,
    secrets,
  );

  const parsed = completionSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw protocolError(`${label} answered an unexpected completion shape: ${issues}`);
  }
  const message = parsed.data.choices[0]!.message;
  const actions: AgentAction[] = (message.tool_calls ?? []).map((call) => ({
    type: 'tool_call',
    name: call.function.name,
    input: parseArguments(call.function.arguments),
  }));
  if (typeof message.content !== 'string' && actions.length === 0) {
    throw protocolError(`${label} answered a completion with neither content nor tool calls`);
  }
  const text = message.content ?? '';

  const usage = parsed.data.usage;
  const prompt = messages.map((m) => m.content).join('');
  const output = text + (message.tool_calls ?? []).map((c) => c.function.arguments ?? '').join('');
  return {
    text,
    usage: {
      input_tokens: usage?.prompt_tokens ?? estimateTokens(prompt),
      output_tokens: usage?.completion_tokens ?? estimateTokens(output),
    },
    actions,
  };
}

export function buildMessages(ctx: AgentContext): ChatMessage[] {
  const system = [ctx.instructions.trim(), ctx.outputType === 'json' ? JSON_HINT : ''].filter(Boolean).join('\n\n');
  return [
    ...(system ? [{ role: 'system' as const, content: system }] : []),
    ...ctx.conversation.map((turn) => ({ role: turn.role, content: turn.content })),
    { role: 'user', content: ctx.message + contextBlock(ctx.context) },
  ];
}

/** Plain values stay readable; multi-line strings are JSON-quoted so one entry stays one line. */
function contextBlock(context: AgentContext['context']): string {
  const entries = Object.entries(context);
  if (entries.length === 0) return '';
  const lines = entries.map(([key, value]) => {
    const shown = typeof value === 'string' && !/[\r\n]/.test(value) ? value : JSON.stringify(value);
    return `- ${key}: ${shown}`;
  });
  return `\n\nContext:\n${lines.join('\n')}`;
}

function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
}

/** Models sometimes emit invalid JSON arguments; keep the raw text rather than losing the action. */
function parseArguments(raw: string | undefined): unknown {
  if (raw === undefined || raw === '') return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}
