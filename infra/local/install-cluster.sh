#!/usr/bin/env bash
# Installs the EnvoyMonitor CRD, the reaper's RBAC and (with --examples) the example workload on the current
# kubectl context: a kind or k3d cluster on a laptop, or any cluster you may change. rbac.yaml holds the service accounts
# and roles of the in-cluster Deployments (infra/k8s/app/); run.sh itself runs under your own kubeconfig. The opt-in
# injector (infra/k8s/injector/: inject, remove and restore endpoints, bound per namespace) is not installed here.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v kubectl >/dev/null 2>&1 || { echo "error: 'kubectl' is not installed (https://kubernetes.io/docs/tasks/tools/)" >&2; exit 1; }
context=$(kubectl config current-context 2>/dev/null) || { echo "error: kubectl has no current context; create a cluster (kind create cluster) or pick one (kubectl config use-context NAME)" >&2; exit 1; }
echo "installing into context '$context'"
kubectl apply -f "$root/infra/k8s/envoymonitor-crd.yaml"
kubectl wait --for=condition=Established crd/envoymonitors.monitoring.example.com --timeout=60s
kubectl apply -f "$root/infra/k8s/rbac.yaml"
if [ "${1:-}" = "--examples" ]; then
  kubectl apply -f "$root/infra/k8s/example-my-app.yaml"
  kubectl apply -f "$root/infra/k8s/example-envoymonitor.yaml"
fi
