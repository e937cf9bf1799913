import { z, type ZodType } from 'zod';
import { TOTAL_CAP, type PageRequest } from '../db/pagination.js';

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

/**
 * List query: keyset pagination by `cursor` (or `starting_after`), or page numbers for
 * compatibility. See src/db/pagination.ts for the cost bounds.
 */
export const PaginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(10).describe('Items per page, 1–100'),
  cursor: z
    .string()
    .max(200)
    .optional()
    .describe('Opaque `pagination.next_cursor` of the previous page: the items after it, newest first. Preferred over `page`: its cost does not grow with the list'),
  starting_after: Uuid.optional().describe('The `id` of the last item of the previous page (an alternative to `cursor`)'),
  page: z.coerce
    .number()
    .int()
    .min(1)
    .default(1)
    .describe(`Page number, from 1 (compatibility). Reaches only the first ${TOTAL_CAP.toLocaleString('en-US')} items: deeper pages answer 422, follow \`next_cursor\``),
});

export const PaginationSchema = z
  .object({
    page: z.number().int().nullable().describe('The page number; null when the page was read by `cursor`/`starting_after`'),
    limit: z.number().int(),
    total: z
      .number()
      .int()
      .describe(`Items across all pages, exact up to ${TOTAL_CAP}; when there are more it is ${TOTAL_CAP} and \`total_capped\` is true`),
    total_capped: z.boolean().describe(`True when the list has more than ${TOTAL_CAP} items (\`total\` then reads ${TOTAL_CAP}, i.e. "${TOTAL_CAP}+")`),
    pages: z.number().int().describe('ceil(total / limit): the pages reachable by number'),
    has_more: z.boolean().describe('Whether items follow this page'),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  })
  .meta({ id: 'Pagination' });

export function paginated<T extends ZodType>(item: T) {
  return z.object({ data: z.array(item), pagination: PaginationSchema });
}

/** The page a list handler was asked for, as the repositories take it. */
export function pageRequest(query: z.output<typeof PaginationQuery>): PageRequest {
  return { limit: query.limit, page: query.page, cursor: query.cursor ?? null, startingAfter: query.starting_after ?? null };
}

/** JSON object metadata, at most 16 KB serialised. */
export const Metadata = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 16_384, 'must serialise to at most 16 KB of JSON')
  .describe('Free-form JSON object, at most 16 KB');
