#!/usr/bin/env bash
# Installs moto's server into a cached venv and prints the venv's directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
exec "$here/venv.sh" moto "$MOTO_VERSION" "moto[server]==$MOTO_VERSION" moto_server
