#!/usr/bin/env bash
# The demo: a local control plane and moto, the CRDs, the operator and examples/,
# ending with `kubectl get` for the four kinds. The environment stays up afterwards
# (`source target/harness/env` to use it, `make down` to stop it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run=${ORGOPS_RUN_DIR:-$root/target/harness}

"$here/env.sh" up
# shellcheck disable=SC1091
. "$run/env"

echo "== installing the CRDs"
kubectl apply --server-side --force-conflicts -f "$root/crds" >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f "$root/crds" >/dev/null

echo "== creating the organization, its OUs, the identity store groups and the parent zone in moto"
seeded=$("$ORGOPS_MOTO_PYTHON" "$here/seed-org.py")
echo "$seeded"
parent_zone=$(echo "$seeded" | sed -n 's/^zone example.com: //p')
# The example policy names a placeholder zone; the demo's has the one moto just made.
sed "s/Z0EXAMPLEPARENTZONE/$parent_zone/" "$root/examples/platform/policy.yaml" >"$run/policy.yaml"

echo "== starting the operator with examples/platform/policy.yaml (log: $run/operator.log)"
if [ -f "$run/operator.pid" ]; then kill "$(cat "$run/operator.pid")" 2>/dev/null || true; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
binary=${ORGOPS_BINARY:-$root/target/debug/orgops}
"$binary" run --http-addr "127.0.0.1:$port" --resync 30s \
  --policy-file "$run/policy.yaml" >"$run/operator.log" 2>&1 &
echo $! >"$run/operator.pid"

echo "== applying examples/"
kubectl apply -f "$root/examples/namespace.yaml" >/dev/null
kubectl apply -f "$root/examples"
echo "== waiting for the accounts, then the permission set requests, subdomains and baselines, to be Ready"
kubectl wait awsaccounts --all -A --for=condition=Ready --timeout=120s
kubectl wait permissionsetrequests --all -A --for=condition=Ready --timeout=120s
kubectl wait subdomaindelegations --all -A --for=condition=Ready --timeout=120s
kubectl wait securitybaselines --all -A --for=condition=Ready --timeout=120s
echo
echo "\$ the NS record of payroll.example.com in the parent zone example.com ($parent_zone)"
"$ORGOPS_MOTO_PYTHON" -c "
import boto3
records = boto3.client('route53').list_resource_record_sets(HostedZoneId='$parent_zone')['ResourceRecordSets']
for r in records:
    if r['Type'] == 'NS' and r['Name'] == 'payroll.example.com.':
        print(r['Name'], r['TTL'], 'NS', ' '.join(v['Value'] for v in r['ResourceRecords']))
"

echo
for kind in awsaccounts permissionsetrequests subdomaindelegations securitybaselines; do
  echo "\$ kubectl get $kind -A"
  kubectl get "$kind" -A
  echo
done
# Resident memory after ORGOPS_DEMO_IDLE_SECONDS of idling (resyncs only), e.g. with
# ORGOPS_BINARY=target/release/orgops.
sleep "${ORGOPS_DEMO_IDLE_SECONDS:-0}"
echo "The operator ($binary) is resident in $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$(cat "$run/operator.pid")/status")"
echo "The operator serves http://127.0.0.1:$port/metrics"
echo "The environment is still up: 'source $run/env' to use it, 'make down' to stop it."
