#!/usr/bin/env bash
# Installs cfn-lint into a venv cached outside the repository, keyed by version, and
# prints the venv's directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

cache=${ORGOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orgops}
venv="$cache/cfn-lint-$CFN_LINT_VERSION"
if [ ! -x "$venv/bin/cfn-lint" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "cfn-lint==$CFN_LINT_VERSION" >&2
fi
echo "$venv"
