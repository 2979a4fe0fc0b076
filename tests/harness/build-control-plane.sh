#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go modules (through the Go module proxy) and caches
# the binaries outside the repository, keyed by version. A second run is a no-op.
# Prints the directory holding the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
bin="$cache/control-plane/k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && { command -v kubectl >/dev/null || [ -x "$bin/kubectl" ]; }; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
export GOFLAGS=-mod=mod CGO_ENABLED=0

# k8s.io/kubernetes is not meant to be a dependency: its go.mod points every staging
# module at a local path. A wrapper module maps each one to its matching v0.x.y release.
build_kube() {
  local mod="$cache/control-plane/src/kubernetes-$KUBE_VERSION"
  mkdir -p "$mod"
  local staging="v0.${KUBE_VERSION#1.}"
  local upstream
  upstream=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module orgops.dev/control-plane/kubernetes"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes v$KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$upstream"
    echo ")"
  } >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy >/dev/null && go build -trimpath -ldflags='-s -w' -o "$bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
}

build_etcd() {
  local mod="$cache/control-plane/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  printf 'module orgops.dev/control-plane/etcd\n\ngo 1.23\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >"$mod/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >"$mod/tools.go"
  (cd "$mod" && go mod tidy >/dev/null && go build -trimpath -ldflags='-s -w' -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

# kubectl of the same release, only where the machine has none.
build_kubectl() {
  (cd "$cache/control-plane/src/kubernetes-$KUBE_VERSION" &&
    go build -trimpath -ldflags='-s -w' -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl)
}

[ -x "$bin/etcd" ] || build_etcd >&2
[ -x "$bin/kube-apiserver" ] || build_kube >&2
command -v kubectl >/dev/null || [ -x "$bin/kubectl" ] || build_kubectl >&2
echo "$bin"
