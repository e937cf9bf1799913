/**
 * TEMPORARY re-exports: the repositories now live in one file per feature (orgs, apiKeys,
 * agents, runs, credits, pagination …). Kept only so files other branches own (activities/**)
 * still compile during the merge; import from the feature file instead. The lead deletes this
 * file once nothing imports it.
 */
export { findOrg, insertOrg } from './orgs.js';
export { findActiveApiKeyByHash, findApiKey, insertApiKey, listApiKeys, revokeApiKey, touchApiKey } from './apiKeys.js';
export { findAgent, findAgentById, insertAgent, listAgents, softDeleteAgent, updateAgent } from './agents.js';
export { deleteRun, findRun, findRunById, insertRun, listRuns, markRunStarted, type RunFilter } from './runs.js';
export { listCreditEntries } from './credits.js';
export { keysetPage, type Page, type PageRequest } from './pagination.js';
