#!/usr/bin/env bash
# Builds the end-to-end test binary, then runs it with libtest's time of each test
# (`--report-time`, an unstable libtest option enabled at run time by RUSTC_BOOTSTRAP,
# which changes nothing that is compiled). Keeps the output in target/e2e/<label>.log
# and prints the build time and the ten slowest tests.
# Usage: tests/harness/e2e.sh LABEL [libtest arguments...]
set -euo pipefail
label=$1
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
log="$root/target/e2e/$label.log"
mkdir -p "$root/target/e2e"

started=$SECONDS
binary=$(cd "$root" && ${CARGO:-cargo} test --workspace --test e2e --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["name"] == "e2e":
        print(message["executable"])')
echo "[$label] test binary built in $((SECONDS - started)) s"

started=$SECONDS
set +e
# cargo runs a test binary in its package's folder: the same here.
(cd "$root/tests/e2e" && RUSTC_BOOTSTRAP=1 "$binary" -Z unstable-options --report-time "$@") 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "[$label] tests ran in $((SECONDS - started)) s; the ten slowest:"
# awk reads all of sort's output (unlike head): no SIGPIPE fails the pipeline.
sed -nE 's/^test (.*) \.\.\. .* <([0-9.]+)s>$/\2 \1/p' "$log" | sort -rn \
  | awk 'NR <= 10 { printf "  %7.1f s  %s\n", $1, $2 }'
exit "$status"
