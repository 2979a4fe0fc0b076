#!/usr/bin/env bash
# Installs a Python tool into a venv cached outside the repository, keyed by its pinned
# version, and prints the venv's directory. The venv is made and filled by uv (itself
# installed once from PyPI with pip): it resolves and fetches in parallel, about five
# times faster than pip on a machine with no cache.
#
#   venv.sh NAME VERSION REQUIREMENT EXECUTABLE   e.g. venv.sh moto 5.2.5 'moto[server]==5.2.5' moto_server
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
name=$1 version=$2 requirement=$3 executable=$4
cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
venv="$cache/$name-$version"
if [ ! -x "$venv/bin/$executable" ]; then
  uv="$cache/uv-$UV_VERSION/bin/uv"
  if [ ! -x "$uv" ]; then
    rm -rf "$cache/uv-$UV_VERSION"
    python3 -m venv "$cache/uv-$UV_VERSION" >&2
    "$cache/uv-$UV_VERSION/bin/pip" install --quiet "uv==$UV_VERSION" >&2
  fi
  rm -rf "$venv"
  "$uv" venv --quiet --python python3 "$venv" >&2
  "$uv" pip install --quiet --python "$venv/bin/python" "$requirement" >&2
fi
echo "$venv"
