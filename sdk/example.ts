/**
 * A runnable example of the TypeScript SDK against a running API (npm run dev prints the key):
 *
 *   AGENT_WEBHOOKS_URL=http://localhost:3000 AGENT_WEBHOOKS_KEY=awk_… node --import tsx sdk/example.ts
 *
 * Creates an echo agent and a token URL, calls the token URL with plain HTTP, follows the run's
 * live events to the end and prints its result.
 */
import { createClient, streamRunEvents } from './index.js';

const baseUrl = process.env.AGENT_WEBHOOKS_URL ?? 'http://localhost:3000';
const apiKey = process.env.AGENT_WEBHOOKS_KEY;
if (!apiKey) throw new Error('Set AGENT_WEBHOOKS_KEY to an API key (npm run dev prints one).');

const aw = createClient({ baseUrl, apiKey });

const agent = await aw.POST('/v1/agents', { body: { name: 'SDK example', provider: { kind: 'echo' } } });
if (!agent.data) throw new Error(`create agent: ${agent.error?.detail}`);

const hook = await aw.POST('/v1/agents/{id}/webhooks', { params: { path: { id: agent.data.id } }, body: { name: 'SDK example URL' } });
if (!hook.data) throw new Error(`create token URL: ${hook.error?.detail}`);
console.log('token URL (shown once):', hook.data.webhook_url);

const call = await fetch(hook.data.webhook_url, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'Hello from the SDK example' }),
});
const { run_id: runId } = (await call.json()) as { run_id: string };

await streamRunEvents({ baseUrl, apiKey }, runId, (event) => console.log('event:', event.event_type));
const run = await aw.GET('/v1/runs/{id}', { params: { path: { id: runId } } });
console.log('run', runId, run.data?.status, '→', run.data?.result);

await aw.DELETE('/v1/agents/{id}', { params: { path: { id: agent.data.id } } });
