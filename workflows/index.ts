// Deterministic workflow code only: activities are reached through proxyActivities with type imports.
export { agentRun } from './agentRun.js';
export type { AgentRunInput, AgentRunResult } from './agentRun.js';
export { runCallback } from './runCallback.js';
export type { RunCallbackInput } from './runCallback.js';
export { runOutcomeUpdate } from './definitions.js';
export type { RunOutcome } from './definitions.js';
export { eventDelivery, redeliver } from './eventDelivery.js';
export type { EventDeliveryInput, EventDeliveryResult, RedeliverInput } from './eventDelivery.js';
export { scheduledRun } from './scheduledRun.js';
export type { ScheduledRunInput, ScheduledRunResult } from './scheduledRun.js';
export { recovery } from './recovery.js';
export type { RecoveryInput } from './recovery.js';
export { retentionPurge } from './retentionPurge.js';
export type { RetentionPurgeInput, RetentionPurgeResult } from './retentionPurge.js';
