#!/bin/sh
# Runs once the Temporal server is healthy: creates the namespace and registers the custom
# search attributes operators filter by in the Web UI (both idempotent).
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"
ADDR="${TEMPORAL_ADDRESS:?}"
until temporal operator cluster health --address "$ADDR" >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe -n "$NS" --address "$ADDR" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$NS" --retention 720h --address "$ADDR"
for name in OrgId AgentId RunSource RunStatus EventType; do
  temporal operator search-attribute create --namespace "$NS" --address "$ADDR" --name "$name" --type Keyword 2>/dev/null || true
done
temporal operator search-attribute create --namespace "$NS" --address "$ADDR" --name EndpointId --type KeywordList 2>/dev/null || true
echo "namespace $NS and search attributes ready"
