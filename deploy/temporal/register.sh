#!/bin/sh
# Runs once the Temporal server is healthy: creates the namespace and registers the custom
# search attributes operators filter by in the Web UI. Idempotent; any failure other than
# "already there" stops with a message and a non-zero exit, so dependants never start on a
# half-registered namespace.
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"
ADDR="${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS}"
# How long closed workflows stay (README "Data retention"): each run closes 1 + (events with
# subscribers) workflows of a few KB; 72 h keeps three days to inspect, not a month.
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
fail() { echo "register: $*" >&2; exit 1; }

tries=0
until temporal operator cluster health --address "$ADDR" >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 90 ] || fail "Temporal at $ADDR is not healthy after 180 s"
  sleep 2
done

if ! temporal operator namespace describe -n "$NS" --address "$ADDR" >/dev/null 2>&1; then
  temporal operator namespace create -n "$NS" --retention "$RETENTION" --address "$ADDR" \
    || fail "could not create namespace $NS"
else
  # An existing namespace (e.g. created with the old 720 h) converges on the setting.
  temporal operator namespace update -n "$NS" --retention "$RETENTION" --address "$ADDR" >/dev/null \
    || fail "could not set the retention of namespace $NS"
fi

register() { # name type
  if out=$(temporal operator search-attribute create --namespace "$NS" --address "$ADDR" --name "$1" --type "$2" 2>&1); then
    return 0
  fi
  # Already registered with the same type is fine; anything else is not.
  if temporal operator search-attribute list --namespace "$NS" --address "$ADDR" 2>/dev/null | grep -Eq "^[[:space:]]*$1[[:space:]]+$2([[:space:]]|$)"; then
    return 0
  fi
  fail "could not register search attribute $1 ($2) in $NS: $out"
}

for name in OrgId AgentId RunSource RunStatus EventType; do register "$name" Keyword; done
register EndpointId KeywordList
echo "namespace $NS and search attributes ready"
