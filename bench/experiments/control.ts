// The production workflows, unchanged: the control arm of bench/experiment.ts.
export * from '../../workflows/index.js';
