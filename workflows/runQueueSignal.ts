import { defineSignal } from '@temporalio/workflow';

/** Sent to a queued run's workflow when another run's admission gave it a slot: it stops waiting at once. */
export const runAdmittedSignal = defineSignal('runAdmitted');
