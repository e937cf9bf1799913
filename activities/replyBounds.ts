import { ApplicationFailure } from '@temporalio/activity';
import type { AgentReply } from './providers/types.js';

/** Largest reply text kept (characters): ten times the largest message a caller may send. */
export const MAX_REPLY_CHARS = 500_000;
/** Token counts beyond any model's context; they also fit the runs table's integer columns. */
export const MAX_REPLY_TOKENS = 100_000_000;
/** One action's JSON, bounded like an event payload. */
const MAX_ACTION_CHARS = 64_000;

// A NUL (Postgres text cannot hold it) or a UTF-16 surrogate without its pair (not encodable).
// eslint-disable-next-line no-control-regex -- the NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function invalid(reason: string): ApplicationFailure {
  // Retrying cannot change what the agent said: the run fails with the reason.
  return ApplicationFailure.create({ type: 'InvalidAgentReply', message: `the agent's reply was refused: ${reason}`, nonRetryable: true });
}

/** Every string in a JSON-like value, keys included, depth-first; stops at the first bad one. */
function findUnstorable(value: unknown, path: string, depth = 0): string | undefined {
  if (depth > 64) return `${path} is nested too deeply`;
  if (typeof value === 'string') return UNSTORABLE.test(value) ? `${path} contains a NUL byte or an unpaired surrogate` : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findUnstorable(value[i], `${path}[${i}]`, depth + 1);
      if (bad) return bad;
    }
  } else if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const bad = UNSTORABLE.test(key) ? `${path} has a key with a NUL byte or an unpaired surrogate` : findUnstorable(inner, `${path}.${key}`, depth + 1);
      if (bad) return bad;
    }
  }
  return undefined;
}

/**
 * What any provider answered, checked and bounded before it reaches workflow history and the
 * database: storable text, sane token counts, and at most `maxActions` actions (the rest are
 * counted in actions_dropped, so one run cannot fan out into thousands of events). Throws a
 * non-retryable failure naming the reason; returns the reply as it will be stored.
 */
export function boundReply(reply: AgentReply, maxActions: number): AgentReply {
  if (typeof reply.text !== 'string') throw invalid('the text is not a string');
  if (reply.text.length > MAX_REPLY_CHARS) throw invalid(`the text is ${reply.text.length} characters, more than ${MAX_REPLY_CHARS}`);
  if (UNSTORABLE.test(reply.text)) throw invalid('the text contains a NUL byte or an unpaired surrogate');
  for (const field of ['input_tokens', 'output_tokens'] as const) {
    const n = reply.usage?.[field];
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_REPLY_TOKENS) throw invalid(`usage.${field} must be a whole number from 0 to ${MAX_REPLY_TOKENS} (got ${String(n).slice(0, 40)})`);
  }
  const all = Array.isArray(reply.actions) ? reply.actions : [];
  const actions = all.slice(0, maxActions);
  for (const [i, action] of actions.entries()) {
    const bad = findUnstorable(action, `actions[${i}]`);
    if (bad) throw invalid(bad);
    if (JSON.stringify(action).length > MAX_ACTION_CHARS) throw invalid(`actions[${i}] is larger than ${MAX_ACTION_CHARS} characters of JSON`);
  }
  return { text: reply.text, usage: { input_tokens: reply.usage.input_tokens, output_tokens: reply.usage.output_tokens }, actions, actions_dropped: all.length - actions.length };
}
