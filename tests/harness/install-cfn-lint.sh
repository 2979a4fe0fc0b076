#!/usr/bin/env bash
# Installs cfn-lint into a cached venv and prints the venv's directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
exec "$here/venv.sh" cfn-lint "$CFN_LINT_VERSION" "cfn-lint==$CFN_LINT_VERSION" cfn-lint
