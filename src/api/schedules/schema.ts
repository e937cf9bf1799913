import { z } from 'zod';
import { CreateRunBody } from '../runs/schema.js';
import { PaginationQuery, Timestamp, Uuid } from '../schemas.js';

const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/** Longest interval: a year (a cron expression covers rarer firings). */
const MAX_INTERVAL_SECONDS = 366 * 24 * 3600;

export const OverlapPolicySchema = z
  .enum(['skip', 'buffer_one', 'allow_all'])
  .describe('When a firing comes while the previous firing\'s run is still going: `skip` it, `buffer_one` (run it once the previous ends; at most one waits), or `allow_all` (run at once, overlapping)');

const specFields = {
  name: z.string().trim().min(1).max(200).describe('A label for the schedule'),
  cron: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .describe('A cron expression (5 fields, e.g. `0 9 * * MON-FRI`; Temporal also takes `@hourly`, `@every 90m` …). Exactly one of cron and interval_seconds'),
  interval_seconds: z.number().int().min(1).max(MAX_INTERVAL_SECONDS).describe('Fire every this many seconds. Exactly one of cron and interval_seconds'),
  timezone: z.string().max(100).refine(isTimeZone, 'must be an IANA time zone, e.g. Europe/Paris').describe('IANA time zone the cron expression is read in (default UTC)'),
  overlap_policy: OverlapPolicySchema,
  end_at: Timestamp.nullable().describe('No firings after this time (null: none)'),
};

// The run each firing starts: what POST /v1/agents/{id}/runs takes (conversation_id, run_at and delay_seconds excepted).
const runFields = {
  message: CreateRunBody.shape.message,
  subject: CreateRunBody.shape.subject,
  context: CreateRunBody.shape.context,
  task_definition_id: CreateRunBody.shape.task_definition_id,
  callback_url: CreateRunBody.shape.callback_url,
  metadata: CreateRunBody.shape.metadata,
};

const oneSpec = (body: { cron?: string | null; interval_seconds?: number | null }) => (body.cron != null) !== (body.interval_seconds != null);

export const CreateScheduleBody = z
  .object({
    ...runFields,
    name: specFields.name.optional(),
    cron: specFields.cron.optional(),
    interval_seconds: specFields.interval_seconds.optional(),
    timezone: specFields.timezone.default('UTC'),
    overlap_policy: specFields.overlap_policy.default('skip'),
    end_at: z.iso.datetime({ offset: true }).optional().describe('No firings after this time'),
    paused: z.boolean().default(false).describe('Create it paused'),
  })
  .strict()
  .refine(oneSpec, { message: 'give exactly one of cron and interval_seconds', path: ['cron'] });

export const UpdateScheduleBody = z
  .object({
    name: specFields.name.optional(),
    cron: specFields.cron.optional().describe('Replaces interval_seconds'),
    interval_seconds: specFields.interval_seconds.optional().describe('Replaces cron'),
    timezone: specFields.timezone.optional(),
    overlap_policy: specFields.overlap_policy.optional(),
    end_at: z.iso.datetime({ offset: true }).nullable().optional().describe('No firings after this time; null removes the end'),
    message: runFields.message.optional(),
    subject: z.string().trim().min(1).max(200).nullable().optional(),
    context: runFields.context,
    task_definition_id: Uuid.nullable().optional(),
    callback_url: runFields.callback_url.nullable(),
    metadata: runFields.metadata,
  })
  .strict()
  .refine((body) => body.cron === undefined || body.interval_seconds === undefined, { message: 'give cron or interval_seconds, not both', path: ['cron'] });

export const ListSchedulesQuery = PaginationQuery;

export const ScheduleSchema = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    name: z.string(),
    cron: z.string().nullable(),
    interval_seconds: z.number().int().nullable(),
    timezone: z.string(),
    overlap_policy: OverlapPolicySchema,
    end_at: Timestamp.nullable(),
    paused: z.boolean(),
    message: z.string(),
    subject: z.string().nullable(),
    context: z.record(z.string(), z.unknown()),
    task_definition_id: Uuid.nullable(),
    callback_url: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    next_run_at: Timestamp.nullable().describe('The next firing Temporal has computed (GET of one schedule only; null when paused, ended or unknown)'),
    created_at: Timestamp,
    updated_at: Timestamp,
    links: z.object({
      runs: z.url().describe('Runs of the schedule\'s agent (each firing is a run with source `schedule` and this schedule_id)'),
      temporal_ui: z.url().nullable().describe('The Temporal Schedule in the Web UI (Schedules page)'),
    }),
  })
  .meta({ id: 'Schedule' });

export const ScheduleTriggeredSchema = z.object({ schedule_id: Uuid, triggered_at: Timestamp });
