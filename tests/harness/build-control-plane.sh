#!/usr/bin/env bash
# Builds kube-apiserver (from tests/tools) and etcd (from its own module: etcd 3.5's server
# needs older gRPC and OpenTelemetry than Kubernetes') through the Go module proxy, and
# caches the binaries outside the repository. A second run is a no-op. Prints the
# directory holding the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
# shellcheck source=go-tools.sh
. "$here/go-tools.sh"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
bin="$cache/control-plane/tools-$tools_key-etcd-v$ETCD_VERSION"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && { command -v kubectl >/dev/null || [ -x "$bin/kubectl" ]; }; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"

build_etcd() {
  local mod="$cache/control-plane/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  printf 'module orgops.dev/control-plane/etcd\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$mod/tools.go"
  (cd "$mod" && GOFLAGS=-mod=mod go mod tidy >/dev/null &&
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -gcflags=all=-dwarf=false -ldflags='-s -w' -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

[ -x "$bin/etcd" ] || build_etcd >&2
[ -x "$bin/kube-apiserver" ] || go_tool k8s.io/kubernetes/cmd/kube-apiserver "$bin/kube-apiserver" >&2
# kubectl of the same release, only where the machine has none.
command -v kubectl >/dev/null || [ -x "$bin/kubectl" ] || go_tool k8s.io/kubernetes/cmd/kubectl "$bin/kubectl" >&2
echo "$bin"
