import { createRequire } from 'node:module';
import type { temporal } from '@temporalio/proto';

const require = createRequire(import.meta.url);
// The SDK's historyFromJSON fails here ("type must be a Type"): @temporalio/common and
// @temporalio/proto each carry their own protobufjs copy. Decode with the copy that built the
// proto types, which is what historyFromJSON does when the install is deduplicated.
const { fromJson } = createRequire(require.resolve('@temporalio/proto'))('protobufjs/ext/protojson') as {
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
};
const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as { patchProtobufRoot(root: unknown): { lookupType(name: string): unknown } };
const historyType = patchProtobufRoot(require('@temporalio/proto')).lookupType('temporal.api.history.v1.History');

/** A history in the standard JSON form (`temporal workflow show --output json`, the Web UI's download). */
export function historyFromCliJson(json: unknown): temporal.api.history.v1.IHistory {
  return fromJson(historyType, json, { ignoreUnknownFields: true }) as temporal.api.history.v1.IHistory;
}
