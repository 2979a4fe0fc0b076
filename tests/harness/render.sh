#!/usr/bin/env bash
# Writes the files generated from the chart and from other sources, under OUT (default:
# the repository; CI renders into a temporary directory and compares):
#   charts/orgops/crds/            the CRDs, as crds/ (which `make crds` generates)
#   manifests/install.yaml         the chart with default values, CRDs included
#   manifests/prometheusrule.yaml  the chart's PrometheusRule
#   manifests/grafana-dashboard.json
#   manifests/argocd/argocd-cm.yaml  the health checks of manifests/argocd/health.lua
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root}
helm=$("$here/install-helm.sh")
mkdir -p "$out/charts/orgops/crds" "$out/manifests/argocd"

rm -f "$out"/charts/orgops/crds/*.yaml
cp "$root"/crds/*.yaml "$out/charts/orgops/crds/"

# Always the repository's chart: a stale copy of the CRDs in it is caught by comparing
# charts/orgops/crds, rendered above.
render() { # extra helm args...
  "$helm" template orgops "$root/charts/orgops" --namespace orgops-system "$@"
}
{
  echo "# orgops with the chart's default values: kubectl apply --server-side -f manifests/install.yaml"
  echo "# Generated from charts/orgops by 'make manifests'; do not edit."
  render --include-crds
} >"$out/manifests/install.yaml"
{
  echo "# The orgops alerts as a Prometheus Operator PrometheusRule (namespace orgops-system)."
  echo "# Generated from charts/orgops by 'make manifests'; do not edit."
  render --set prometheusRule.enabled=true --show-only templates/prometheusrule.yaml
} >"$out/manifests/prometheusrule.yaml"
cp "$root/charts/orgops/files/dashboard.json" "$out/manifests/grafana-dashboard.json"

{
  echo "# Argo CD health checks of the four orgops kinds: merge into the argocd-cm ConfigMap."
  echo "# Generated from manifests/argocd/health.lua by 'make manifests'; do not edit."
  echo "apiVersion: v1"
  echo "kind: ConfigMap"
  echo "metadata:"
  echo "  name: argocd-cm"
  echo "  namespace: argocd"
  echo "  labels:"
  echo "    app.kubernetes.io/part-of: argocd"
  echo "data:"
  for kind in AwsAccount PermissionSetRequest SubdomainDelegation SecurityBaseline; do
    echo "  resource.customizations.health.orgops.dev_$kind: |"
    sed 's/^/    /; s/^    $//' "$root/manifests/argocd/health.lua"
  done
} >"$out/manifests/argocd/argocd-cm.yaml"
