#!/usr/bin/env bash
# Builds the chart's validation tools from Go modules into .local/go-tools/bin (cached: a tool
# already built at the wanted version is kept): helm (helm.sh/helm/v4, version below) and
# writ-manifest-check (deploy/helm/check: strict offline validation of the rendered manifests).
# Go comes from the machine (go 1.26); modules from the Go module proxy, checked against go.sum.
# Run by the int tier's chart test (test/deploy/helm.int.spec.ts) and by hand:
#   bash deploy/helm/tools.sh && .local/go-tools/bin/helm version
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HELM_VERSION=v4.3.2
bin="$root/.local/go-tools/bin"
mkdir -p "$bin"
command -v go >/dev/null || { echo "[helm-tools] go is not on PATH: the machine's Go (1.26) builds helm and the checker" >&2; exit 1; }
export GOFLAGS="${GOFLAGS:-} -trimpath"

if [ ! -x "$bin/helm" ] || [ "$(cat "$bin/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]; then
  echo "[helm-tools] building helm $HELM_VERSION (cold: several minutes)" >&2
  GOBIN="$bin" go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$bin/helm.version"
fi

# The checker: rebuilt when its sources change (the hash of main.go, go.mod and go.sum).
sum="$(cat "$root/deploy/helm/check/main.go" "$root/deploy/helm/check/go.mod" "$root/deploy/helm/check/go.sum" | sha256sum | cut -c1-16)"
if [ ! -x "$bin/writ-manifest-check" ] || [ "$(cat "$bin/writ-manifest-check.version" 2>/dev/null)" != "$sum" ]; then
  echo "[helm-tools] building writ-manifest-check" >&2
  (cd "$root/deploy/helm/check" && go build -o "$bin/writ-manifest-check" .)
  echo "$sum" > "$bin/writ-manifest-check.version"
fi
