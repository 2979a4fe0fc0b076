#!/usr/bin/env bash
# Installs a Python tool into a venv cached outside the repository, keyed by its pinned
# version, and prints the venv's directory.
#
#   venv.sh NAME VERSION REQUIREMENT EXECUTABLE   e.g. venv.sh moto 5.2.5 'moto[server]==5.2.5' moto_server
set -euo pipefail
name=$1 version=$2 requirement=$3 executable=$4
cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
venv="$cache/$name-$version"
if [ ! -x "$venv/bin/$executable" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "$requirement" >&2
fi
echo "$venv"
