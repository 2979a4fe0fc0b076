#!/usr/bin/env bash
# Downloads Debian's prometheus (for promtool) and lua5.1 packages and unpacks them into a
# directory cached outside the repository, keyed by their versions; nothing is installed
# system-wide. Prints the directory: promtool is usr/bin/promtool, and usr/bin/lua5.1
# runs with LD_LIBRARY_PATH=usr/lib/x86_64-linux-gnu.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
dir="$cache/debs-prometheus-$PROMETHEUS_DEB_VERSION-lua-$LUA_DEB_VERSION"
if [ -x "$dir/usr/bin/promtool" ] && [ -x "$dir/usr/bin/lua5.1" ]; then
  echo "$dir"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=("prometheus=$PROMETHEUS_DEB_VERSION" "lua5.1=$LUA_DEB_VERSION" "liblua5.1-0=$LUA_DEB_VERSION")
if ! (cd "$work" && apt-get download "${packages[@]}" >&2 2>/dev/null); then
  apt-get update >&2
  (cd "$work" && apt-get download "${packages[@]}" >&2)
fi
mkdir -p "$dir"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
echo "$dir"
