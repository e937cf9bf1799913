import { z } from 'zod';

export const AgentProviderSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('echo'),
    /** Simulated thinking time in milliseconds (0–600000); handy for demos and tests. */
    delay_ms: z.number().int().min(0).max(600_000).optional(),
  }).strict(),
]);

export const CreateAgentBody = z
  .object({
    /** Display name, 1–200 characters. */
    name: z.string().trim().min(1).max(200),
    /** The agent's system prompt. */
    instructions: z.string().max(100_000).default(''),
    /** Which agent runtime answers: `{ "kind": "echo" }` is built in. */
    provider: AgentProviderSchema.default({ kind: 'echo' }),
    /** Free-form JSON object stored with the agent. */
    metadata: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
