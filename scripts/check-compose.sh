#!/usr/bin/env bash
# Validates docker-compose.yml (interpolation, schema, references) without a Docker engine.
# Uses the Compose v2 plugin when the machine has it, else Debian's docker-compose, which
# this script installs on a machine that has neither (the development machines have only
# the docker client, and the Compose v2 plugin is not in Debian's archive).
set -euo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "check-compose: installing Debian's docker-compose to validate the file"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  compose=(docker-compose)
else
  echo "check-compose: neither 'docker compose' nor 'docker-compose' is available" >&2
  exit 1
fi

"${compose[@]}" --env-file .env.example config -q
echo "check-compose: docker-compose.yml is valid (${compose[*]})"
