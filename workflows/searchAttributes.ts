import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes: what an operator types into the Temporal Web UI to find a run
 * or a delivery, e.g. `AgentId = "…" AND ExecutionStatus = "Failed"`.
 * Registered on the embedded dev server at start and by the compose setup in production.
 */
export const OrgIdKey = defineSearchAttributeKey('OrgId', SearchAttributeType.KEYWORD);
export const AgentIdKey = defineSearchAttributeKey('AgentId', SearchAttributeType.KEYWORD);
export const RunSourceKey = defineSearchAttributeKey('RunSource', SearchAttributeType.KEYWORD);
export const RunStatusKey = defineSearchAttributeKey('RunStatus', SearchAttributeType.KEYWORD);
export const EventTypeKey = defineSearchAttributeKey('EventType', SearchAttributeType.KEYWORD);
/** A list: one event's delivery workflow delivers to every subscribed endpoint. */
export const EndpointIdKey = defineSearchAttributeKey('EndpointId', SearchAttributeType.KEYWORD_LIST);

export const customSearchAttributes = [OrgIdKey, AgentIdKey, RunSourceKey, RunStatusKey, EventTypeKey, EndpointIdKey];
