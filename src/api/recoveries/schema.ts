import { z } from 'zod';
import { Timestamp, Uuid } from '../schemas.js';

export const RecoverEndpointBody = z
  .object({
    since: Timestamp.describe('Resend deliveries whose last attempt failed at or after this time'),
    until: Timestamp.optional().describe('… and at or before this time (default: now)'),
    enable_endpoint: z
      .boolean()
      .default(false)
      .describe('Re-enable the endpoint first if it is disabled (clearing its failure streak); without it a disabled endpoint answers 409'),
  })
  .strict();

export const RecoverySchema = z
  .object({
    id: Uuid,
    endpoint_id: Uuid,
    since: Timestamp,
    until: Timestamp.describe('The window\'s end, fixed when the recovery started'),
    status: z.enum(['running', 'completed', 'failed']),
    total: z.number().int().describe('Failed deliveries in the window when the recovery started'),
    sent: z.number().int().describe('Resent so far (each with its original webhook-id)'),
    succeeded: z.number().int(),
    failed: z.number().int().describe('Resends the receiver refused or that never got an answer; they do not count toward disabling the endpoint'),
    enabled_endpoint: z.boolean().describe('Whether this recovery re-enabled the endpoint'),
    workflow_id: z.string().describe('The Temporal workflow doing the work, `recovery-<id>`'),
    created_at: Timestamp,
    completed_at: Timestamp.nullable(),
  })
  .meta({ id: 'Recovery' });
