#!/usr/bin/env bash
# Runs EnvoyReaper on this machine: Azurite for storage, the CRD/RBAC/examples on the current kube context (a kind or
# k3d cluster), then `func start` against that cluster.
# Usage: infra/local/run.sh            (Ctrl-C stops both)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is not installed: $2" >&2; exit 1; }
}
need dotnet "install the .NET 10 SDK (https://dot.net)"
need node "install Node.js 20 or later; Azurite runs on it"
need npx "install npm (it comes with Node.js)"
need func "install Azure Functions Core Tools 4 (npm i -g azure-functions-core-tools@4, or your package manager)"

# A cluster: the app stops at start without one, so say so now.
kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
kubeconfig="${kubeconfig%%:*}"
if [ ! -s "$kubeconfig" ]; then
  echo "error: no kubeconfig at $kubeconfig: create a local cluster (kind create cluster, or k3d cluster create) or set KUBECONFIG" >&2
  exit 1
fi
need kubectl "install kubectl (https://kubernetes.io/docs/tasks/tools/); run.sh uses it to check the cluster and install the CRD and RBAC"
if ! context=$(kubectl --kubeconfig "$kubeconfig" config current-context 2>/dev/null) || [ -z "$context" ]; then
  echo "error: $kubeconfig has no current context: pick one with kubectl config use-context NAME" >&2
  exit 1
fi
if ! kubectl --kubeconfig "$kubeconfig" --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
  echo "error: the cluster of context '$context' does not answer (kubectl get --raw /readyz failed): is it running?" >&2
  exit 1
fi

settings="$root/local.settings.json"
if [ ! -f "$settings" ]; then
  cp "$root/local.settings.sample.json" "$settings"
  sed -i "s|/home/you/.kube/config|$kubeconfig|" "$settings"
  echo "created local.settings.json from the sample (Reaper__DryRun is true: nothing is deleted until you change it)"
fi

if (exec 3<>/dev/tcp/127.0.0.1/10001) 2>/dev/null; then
  echo "Azurite (or another storage emulator) already listens on 127.0.0.1:10001"
else
  echo "starting Azurite on 127.0.0.1:10000-10002"
  npx --yes azurite@3.37.0 --silent --inMemoryPersistence --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 &
  azurite=$!
  trap 'kill "$azurite" 2>/dev/null || true' EXIT
  for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/10001) 2>/dev/null && break; sleep 0.5; done
fi

echo "installing the EnvoyMonitor CRD, RBAC and the examples on context '$context'"
KUBECONFIG="$kubeconfig" "$root/infra/local/install-cluster.sh" --examples

cd "$root/src/EnvoyReaper.Functions"
cp "$settings" local.settings.json
func start
