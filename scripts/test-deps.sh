#!/usr/bin/env bash
# Installs what the test suite needs, once: Debian's
# Chromium for the browser tests (driven by playwright-core; no browser download), and nginx
# as the TLS-terminating gRPC proxy of the secured-Temporal tests (started by the tests
# themselves with their own configuration; the system service is not used).
# Runs before `npm test` (the pretest script); a no-op when everything is already there.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/nginx ] || need+=(nginx)

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing ${need[*]} and no apt-get to install them; install them and re-run" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "test-deps: installing ${need[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet: update once and try again.
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  }
fi

# Seed 000's Python example (requests + Flask) runs verbatim in the tests, as do the Python
# clients users reach for; from PyPI, once.
if ! python3 -c 'import flask, requests' >/dev/null 2>&1; then
  echo "test-deps: installing flask and requests from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check flask requests
fi
