#!/usr/bin/env bash
# Installs every tool the tests use from Go modules, PyPI and Debian packages into the
# cache, in the order make test needs them. make test runs it in the background while
# cargo compiles; each install holds a lock, so a phase that needs a tool still being
# installed waits for it, and a second run is a no-op.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/install-helm.sh" >/dev/null
"$here/install-cfn-lint.sh" >/dev/null
"$here/install-debs.sh" >/dev/null
# The chart check's Go modules, built once into Go's own cache for its `go run`.
(cd "$here/../chart/monitoring-check" && go build -o /dev/null .)
"$here/build-control-plane.sh" >/dev/null
"$here/install-moto.sh" >/dev/null
echo "every tool installed"
