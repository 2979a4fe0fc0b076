#!/usr/bin/env bash
# Builds helm from its Go module (through the Go module proxy) and caches the binary
# outside the repository, keyed by version. A second run is a no-op. Prints the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
dir="$cache/helm-v$HELM_VERSION"
if [ ! -x "$dir/helm" ]; then
  mkdir -p "$dir"
  GOBIN="$dir" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "helm.sh/helm/v4/cmd/helm@v$HELM_VERSION" >&2
fi
echo "$dir/helm"
