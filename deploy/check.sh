#!/usr/bin/env bash
# Static checks of the deployment artifacts (no Docker engine or cluster needed):
#   - docker-compose.yml against the compose-spec JSON schema (deploy/schemas/compose-spec.json)
#   - each kustomize overlay rendered by `kubectl kustomize`, then validated with
#     kubernetes-validate (strict) for a pinned Kubernetes version
#   - the Prometheus rules with `promtool check rules`, and their unit tests with `promtool test rules`
#   - the Grafana dashboard is valid JSON
#   - every metric the rules and the dashboard use is emitted somewhere in server/ or sync/
# Needs: kubectl, promtool, and a Python venv with kubernetes-validate, jsonschema and pyyaml
# (.ci/run installs them under ${TOOLS_DIR:-/work/tools}). Usage: deploy/check.sh [VENV_PYTHON_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-${TOOLS_DIR:-/work/tools}/deploy-venv}
K8S_VERSION=${K8S_VERSION:-1.30.0}

echo "compose: schema check"
"$venv/bin/python" deploy/check_compose.py docker-compose.yml deploy/schemas/compose-spec.json

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$rendered/$name.yaml"
  echo "kubernetes: overlay $name rendered ($(grep -c '^kind:' "$rendered/$name.yaml") objects), validating for $K8S_VERSION"
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$rendered/$name.yaml"
done

echo "prometheus: promtool check rules"
promtool check rules deploy/prometheus/alerts.yml
echo "prometheus: promtool test rules (alerts fire on the series they are meant for)"
promtool test rules deploy/prometheus/alerts_test.yml

echo "grafana: JSON"
python3 -m json.tool deploy/grafana/store.json >/dev/null

echo "metrics named in the rules and the dashboard exist in the code"
missing=0
for metric in $(grep -ohE '\b[a-z][a-z0-9_]*_(total|seconds|state|depth|connections)(_bucket|_count|_sum)?\b' \
  deploy/prometheus/alerts.yml deploy/grafana/store.json | sed -E 's/_(bucket|count|sum)$//' | sort -u); do
  if ! grep -rqE "(counter|gauge|histogram)!\(\s*\"$metric\"" server/src sync/src \
    && ! grep -rqzE "(counter|gauge|histogram)!\(\s*\"$metric\"" server/src sync/src; then
    echo "  $metric: not emitted by any counter!/gauge!/histogram! in server/src or sync/src"
    missing=1
  fi
done
[ "$missing" = 0 ]
echo "deployment manifests: all checks passed"
