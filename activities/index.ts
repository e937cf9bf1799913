import { createAgentActivities } from './agents.js';
import { createCallbackActivities } from './callbacks.js';
import { createDeliveryActivities } from './deliveries.js';
import type { ActivityDeps } from './deps.js';
import { createEndpointRateLimitActivities } from './endpointRateLimits.js';
import { createEndpointSlotActivities } from './endpointSlots.js';
import { createRecoveryActivities } from './recoveries.js';
import { createRetentionActivities } from './retention.js';
import { createRunActivities } from './runs.js';
import { createRunQueueActivities } from './runQueue.js';
import { createScheduleActivities } from './schedules.js';

export type { ActivityDeps } from './deps.js';
export type { AgentReply, AgentUsage } from './agents.js';

/** Builds every activity around its dependencies (the samples' dependency-injection shape). */
export function createActivities(deps: ActivityDeps) {
  const agents = createAgentActivities(deps);
  return {
    ...createRunActivities(deps, agents),
    ...agents,
    ...createCallbackActivities(deps),
    ...createDeliveryActivities(deps),
    ...createEndpointSlotActivities(deps),
    ...createScheduleActivities(deps),
    ...createRunQueueActivities(deps),
    ...createEndpointRateLimitActivities(deps),
    ...createRecoveryActivities(deps),
    ...createRetentionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
