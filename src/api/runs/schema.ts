import { z } from 'zod';

export const CreateRunBody = z
  .object({
    /** The instruction or prompt for the agent, 1–50,000 characters. */
    message: z.string().min(1).max(50_000),
    /** Arbitrary JSON stored with the run and returned with it (at most 16 KB). */
    metadata: z
      .record(z.string(), z.unknown())
      .refine((m) => JSON.stringify(m).length <= 16_384, 'must serialise to at most 16 KB of JSON')
      .optional(),
  })
  .strict();
