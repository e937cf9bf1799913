import { z, type ZodType } from 'zod';

/** Shared shapes used across resources. Named ones (`.meta({ id })`) become OpenAPI components. */

export const ProblemSchema = z
  .object({
    type: z.string().describe('URI reference identifying the problem type'),
    title: z.string().describe('Short summary of the HTTP status'),
    status: z.number().int().describe('HTTP status code'),
    detail: z.string().describe('Human-readable explanation of this occurrence'),
    instance: z.string().describe('The request path'),
    code: z.string().describe('Stable machine-readable code, e.g. VALIDATION_FAILED'),
    request_id: z.string().describe('Also sent as the X-Request-Id header'),
    details: z.record(z.string(), z.string()).optional().describe('Field path → message, on validation errors'),
    run_id: z.string().optional().describe('The run concerned, when there is one'),
    status_url: z.string().optional().describe('Where to poll the run (SYNC_WAIT_EXCEEDED)'),
    required: z.number().int().optional().describe('On INSUFFICIENT_CREDITS: the credits a run holds (the agent\'s max_credits_per_run)'),
    available: z.number().int().optional().describe('On INSUFFICIENT_CREDITS and credit conflicts: balance − held'),
    balance: z.number().int().optional().describe('On INSUFFICIENT_CREDITS and credit conflicts: the org\'s balance'),
    held: z.number().int().optional().describe('On INSUFFICIENT_CREDITS and credit conflicts: credits held by runs in progress'),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

export const Timestamp = z.iso.datetime().describe('ISO 8601 UTC timestamp');
export const Uuid = z.uuid();

export const PaginationQuery = z.object({
  page: z.coerce.number().int().min(1).default(1).describe('Page number, from 1'),
  limit: z.coerce.number().int().min(1).max(100).default(10).describe('Items per page, 1–100'),
});

export const PaginationSchema = z
  .object({
    page: z.number().int(),
    limit: z.number().int(),
    total: z.number().int().describe('Items across all pages'),
    pages: z.number().int().describe('Number of pages'),
  })
  .meta({ id: 'Pagination' });

export function paginated<T extends ZodType>(item: T) {
  return z.object({ data: z.array(item), pagination: PaginationSchema });
}

export function pagination(page: number, limit: number, total: number) {
  return { page, limit, total, pages: Math.ceil(total / limit) };
}

/** JSON object metadata, at most 16 KB serialised. */
export const Metadata = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 16_384, 'must serialise to at most 16 KB of JSON')
  .describe('Free-form JSON object, at most 16 KB');
