import { z } from 'zod';
import { Metadata, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const RunStatusSchema = z.enum(['processing', 'completed', 'failed', 'cancelled', 'timed_out']);

export const CreateRunBody = z
  .object({
    message: z.string().min(1).max(50_000).describe('The instruction or prompt for the agent, 1–50,000 characters'),
    metadata: Metadata.optional().describe('Arbitrary JSON stored with the run and returned with it (at most 16 KB)'),
  })
  .strict();

export const ListRunsQuery = PaginationQuery.extend({
  agent_id: Uuid.optional().describe('Only runs of this agent'),
  status: RunStatusSchema.optional(),
  created_after: z.iso.datetime({ offset: true }).optional().describe('Only runs created at or after this time'),
  created_before: z.iso.datetime({ offset: true }).optional().describe('Only runs created before this time'),
});

export const RunAcceptedSchema = z
  .object({
    run_id: Uuid,
    status: z.literal('processing'),
    status_url: z.url().describe('Poll this with the same Authorization header'),
  })
  .meta({ id: 'RunAccepted' });

export const RunSchema = z
  .object({
    run_id: Uuid,
    agent_id: Uuid,
    source: z.enum(['api', 'webhook', 'trigger']),
    status: RunStatusSchema,
    result: z.string().nullable().describe('The agent\'s reply once completed'),
    error: z.string().nullable(),
    created_at: Timestamp,
    started_at: Timestamp.nullable(),
    completed_at: Timestamp.nullable(),
    usage: z.object({ input_tokens: z.number().int().nullable(), output_tokens: z.number().int().nullable() }),
    credits_used: z.number().int(),
    metadata: z.unknown(),
    links: z.object({
      self: z.url(),
      temporal_ui: z.url().nullable().describe('The run\'s workflow in the Temporal Web UI'),
    }),
  })
  .meta({ id: 'Run' });
