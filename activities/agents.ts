import { ApplicationFailure, Context, CancelledFailure } from '@temporalio/activity';
import type { Agent, AgentProvider } from '../src/db/schema.js';
import { findAgentById, findRunById } from '../src/db/queries.js';
import type { ActivityDeps } from './deps.js';

export interface AgentUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface AgentReply {
  text: string;
  usage: AgentUsage;
}

export interface AgentRequest {
  agent: Agent;
  message: string;
  /** Called while waiting so Temporal notices a dead worker within the heartbeat timeout. */
  heartbeat: () => void;
  signal: AbortSignal;
}

/** Rough token estimate for providers that report none (about four characters a token). */
export const estimateTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/**
 * The built-in deterministic agent: replies with the message it got. It is the embedded
 * default and what tests run; `delay_ms` simulates thinking time.
 */
export async function echoAgent(provider: Extract<AgentProvider, { kind: 'echo' }>, request: AgentRequest): Promise<AgentReply> {
  const delay = provider.delay_ms ?? 0;
  const started = Date.now();
  while (Date.now() - started < delay) {
    request.heartbeat();
    if (request.signal.aborted) throw new CancelledFailure('agent run cancelled');
    await new Promise((r) => setTimeout(r, Math.min(250, delay - (Date.now() - started))));
  }
  const text = `Echo: ${request.message}`;
  return { text, usage: { input_tokens: estimateTokens(request.message), output_tokens: estimateTokens(text) } };
}

export function createAgentActivities(deps: ActivityDeps) {
  return {
    /** Runs the run's agent on its message. Input is the run id only, so no message text lands in workflow history twice. */
    async runAgent(runId: string): Promise<AgentReply> {
      const run = await findRunById(deps.db, runId);
      if (!run) throw ApplicationFailure.create({ type: 'RunNotFound', message: `run ${runId} not found`, nonRetryable: true });
      const agent = await findAgentById(deps.db, run.agent_id);
      if (!agent) throw ApplicationFailure.create({ type: 'AgentNotFound', message: `agent ${run.agent_id} not found`, nonRetryable: true });

      const ctx = Context.current();
      const request: AgentRequest = {
        agent,
        message: run.message,
        heartbeat: () => ctx.heartbeat(),
        signal: ctx.cancellationSignal,
      };
      const provider = agent.provider;
      switch (provider.kind) {
        case 'echo':
          return echoAgent(provider, request);
        default:
          throw ApplicationFailure.create({
            type: 'UnsupportedProvider',
            message: `agent provider ${(provider as { kind: string }).kind} is not supported`,
            nonRetryable: true,
          });
      }
    },
  };
}
