import type { RunStatus } from '../db/schema.js';

/** A run that has not ended yet: due now, waiting for its run_at, or waiting for a slot. */
export const isLiveRun = (status: RunStatus): boolean => status === 'processing' || status === 'scheduled' || status === 'queued';
