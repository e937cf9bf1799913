import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { conversationHistory } from '../src/db/conversations.js';
import { findRunWithAgent, type RunWithAgent } from '../src/db/runs.js';
import { findTaskById } from '../src/db/tasks.js';
import type { AgentProvider } from '../src/db/schema.js';
import { openHeaders } from '../src/secrets/box.js';
import type { ActivityDeps } from './deps.js';
import { estimateTokens } from './providers/exchange.js';
import { callHttpAgent } from './providers/http.js';
import { callOpenAi } from './providers/openai.js';
import { resolveOpenAiTarget } from './providers/openaiTarget.js';
import { boundReply } from './replyBounds.js';
import type { AgentContext, AgentReply, ProviderDeps } from './providers/types.js';

export type { AgentReply, AgentUsage, AgentAction } from './providers/types.js';

/** The message with its structured context appended, as the agent sees it. */
export function composeMessage(message: string, context: AgentContext['context']): string {
  const entries = Object.entries(context);
  if (!entries.length) return message;
  return `${message}\n\nContext:\n${entries.map(([k, v]) => `- ${k}: ${v === null ? 'null' : String(v)}`).join('\n')}`;
}

/**
 * The built-in deterministic agent: replies with the message it got. It is the embedded
 * default and what tests run; `delay_ms` simulates thinking time (heartbeating meanwhile).
 */
export async function echoAgent(provider: Extract<AgentProvider, { kind: 'echo' }>, ctx: AgentContext, deps: ProviderDeps): Promise<AgentReply> {
  const delay = provider.delay_ms ?? 0;
  const started = Date.now();
  while (Date.now() - started < delay) {
    deps.heartbeat();
    if (deps.signal.aborted) throw new CancelledFailure('agent run cancelled');
    await new Promise((r) => setTimeout(r, Math.min(250, delay - (Date.now() - started))));
  }
  const prompt = composeMessage(ctx.message, ctx.context);
  const text = ctx.outputType === 'json' ? JSON.stringify({ echo: prompt }) : `Echo: ${prompt}`;
  return { text, usage: { input_tokens: Math.max(1, estimateTokens(prompt)), output_tokens: Math.max(1, estimateTokens(text)) }, actions: [] };
}

/**
 * Loads what the agent needs for this run: instructions, task, context and the conversation so
 * far. `known`: the run and its agent as the caller already read them (runToEnd's begin step).
 */
async function loadAgentContext(deps: ActivityDeps, runId: string, known?: RunWithAgent) {
  const found = known ?? (await findRunWithAgent(deps.db, runId));
  if (!found) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
  const { run, agent } = found;
  if (!agent) throw ApplicationFailure.create({ type: 'AgentNotFound', message: `agent ${run.agent_id} not found`, nonRetryable: true });
  const task = run.task_definition_id
    ? await findTaskById(deps.db, run.task_definition_id)
    : undefined;
  const history = run.conversation_id
    ? await conversationHistory(deps.db, run.conversation_id, runId, 50)
    : [];
  const instructions = [agent.instructions, task ? `Task "${task.name}": ${task.instructions}` : '']
    .filter(Boolean)
    .join('\n\n');
  const ctx: AgentContext = {
    runId,
    message: run.message,
    instructions,
    context: run.context,
    conversation: history.reverse(),
    outputType: task?.output_type ?? 'text',
    tools: task?.tools ?? [],
  };
  return { agent, ctx };
}

export function createAgentActivities(deps: ActivityDeps) {
  const provided = {
    /** Runs the run's agent on its message; input is the run id only, so no prompt lands in workflow history. */
    async runAgent(runId: string, known?: RunWithAgent): Promise<AgentReply> {
      const { agent, ctx } = await loadAgentContext(deps, runId, known);
      const activity = Context.current();
      const providerDeps: ProviderDeps = {
        http: deps.http,
        heartbeat: () => activity.heartbeat(),
        signal: activity.cancellationSignal,
      };
      const provider = agent.provider;
      switch (provider.kind) {
        case 'echo':
          return echoAgent(provider, ctx, providerDeps);
        case 'openai': {
          const { target, http } = resolveOpenAiTarget(provider, deps);
          return callOpenAi(target, ctx, { ...providerDeps, http });
        }
        case 'http':
          return callHttpAgent(provider.headers ? { ...provider, headers: openHeaders(deps.secrets, provider.headers) } : provider, ctx, providerDeps);
      }
    },
  };
  return {
    /**
     * The provider's reply, checked and bounded in one place for every provider before it reaches
     * history or the database. The workflow passes the run id only; `runToEnd` calls it in-process
     * with the run and agent its begin step read (`known`), saving that read.
     */
    async runAgent(runId: string, known?: RunWithAgent): Promise<AgentReply> {
      return boundReply(await provided.runAgent(runId, known), deps.settings.maxActionsPerRun);
    },
  };
}
