import { z } from 'zod';
import { PaginationQuery, Timestamp, Uuid } from '../schemas.js';

const Fields = {
  name: z.string().trim().min(1).max(200),
  instructions: z.string().min(1).max(100_000).describe('What the agent should do when this task runs'),
  output_type: z.enum(['text', 'json']).describe('json asks the agent for a single JSON object'),
  tools: z
    .array(z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be a tool name'))
    .max(100)
    .refine((t) => new Set(t).size === t.length, 'must not repeat a tool')
    .describe('Tool allow-list passed to the agent'),
};

export const CreateTaskBody = z
  .object({ name: Fields.name, instructions: Fields.instructions, output_type: Fields.output_type.default('text'), tools: Fields.tools.default([]) })
  .strict();

export const UpdateTaskBody = z
  .object({ name: Fields.name.optional(), instructions: Fields.instructions.optional(), output_type: Fields.output_type.optional(), tools: Fields.tools.optional() })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'name at least one field to change');

export const ListTasksQuery = PaginationQuery;

export const TaskSchema = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    name: z.string(),
    instructions: z.string(),
    output_type: z.enum(['text', 'json']),
    tools: z.array(z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'TaskDefinition' });
