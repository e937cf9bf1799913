import type { HttpClient } from '../../src/outbound/types.js';

export interface AgentUsage {
  input_tokens: number;
  output_tokens: number;
}

/** Something the agent did on the way to its reply; each becomes an `agent.action` event. */
export interface AgentAction {
  type: string;
  name?: string;
  input?: unknown;
  output?: unknown;
}

export interface AgentReply {
  text: string;
  usage: AgentUsage;
  actions: AgentAction[];
  /** Actions beyond MAX_ACTIONS_PER_RUN, left out of `actions` (set by the agent activity). */
  actions_dropped?: number;
}

/** Everything a remote runtime needs to answer one run, already loaded from the database. */
export interface AgentContext {
  runId: string;
  message: string;
  instructions: string;
  context: Record<string, string | number | boolean | null>;
  conversation: Array<{ role: 'user' | 'assistant'; content: string }>;
  outputType: 'text' | 'json';
  /** A task definition's tool allow-list (empty: no restriction named). */
  tools?: string[];
}

/** Narrow on purpose: tests pass a loopback HTTP client and plain functions. */
export interface ProviderDeps {
  http: HttpClient;
  /** Called while waiting so Temporal notices a dead worker within the heartbeat timeout. */
  heartbeat: () => void;
  signal: AbortSignal;
}
