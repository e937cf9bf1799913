// The candidate arm of bench/experiment.ts: production workflows, except eventDelivery plans in a local activity.
export { agentRun, runCallback, runOutcomeUpdate, redeliver } from '../../workflows/index.js';
export { eventDelivery } from './eventDeliveryLocalPlanning.js';
