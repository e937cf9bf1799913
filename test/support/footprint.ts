// The measure lives with the bench (its footprint section takes the same one).
export { databaseFootprint, perRunDelta, type DatabaseFootprint } from '../../bench/lib/footprint.js';
