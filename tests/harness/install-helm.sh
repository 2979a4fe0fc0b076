#!/usr/bin/env bash
# Builds helm from tests/tools (through the Go module proxy) and caches the binary outside
# the repository. A second run is a no-op. Prints the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=go-tools.sh
. "$here/go-tools.sh"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
helm="$cache/helm-$tools_key/helm"
[ -x "$helm" ] || go_tool helm.sh/helm/v3/cmd/helm "$helm" >&2
echo "$helm"
