import { z } from 'zod';
import { PaginationSchema, PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const CreditEntrySchema = z
  .object({
    id: Uuid,
    kind: z.enum(['grant', 'charge', 'adjustment']),
    amount: z.number().int().describe('Positive for grants, negative for charges'),
    reason: z.string(),
    run_id: Uuid.nullable().describe('The run a charge is for'),
    created_at: Timestamp,
  })
  .meta({ id: 'CreditEntry' });

export const CreditsSchema = z
  .object({
    balance: z.number().int().describe('Sum of the whole ledger'),
    held: z.number().int().describe('Credits held by runs in progress (each holds its agent\'s max_credits_per_run until it ends)'),
    available: z.number().int().describe('balance − held: what new runs can hold'),
    data: z.array(CreditEntrySchema).describe('Ledger entries, newest first'),
    pagination: PaginationSchema,
  })
  .meta({ id: 'Credits' });

export const CreditsQuery = PaginationQuery;

export const GrantCreditsBody = z
  .object({
    amount: z.number().int().min(-1_000_000_000).max(1_000_000_000).refine((n) => n !== 0, 'must not be 0').describe('Credits to add (negative to correct)'),
    reason: z.string().trim().min(1).max(200),
  })
  .strict();
