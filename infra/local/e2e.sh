#!/usr/bin/env bash
# End to end on a real cluster: deploy a demo app, inject the Envoy sidecar, open and close a connection, wait for the
# reaper to tear the workload down, then restore it from its snapshot.
# Needs: kubectl (current context = a test cluster), curl, dotnet, and a running reaper (infra/local/run.sh, or the
# in-cluster deployment) with Reaper__DryRun=false, reading the same storage as $AzureWebJobsStorage here.
# Usage: AzureWebJobsStorage=... infra/local/e2e.sh [namespace]   (default namespace: envoy-reaper-e2e)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
ns=${1:-envoy-reaper-e2e}
cli=(dotnet run --project "$root/src/EnvoyReaper.Cli" --)

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is not installed: $2" >&2; exit 1; }; }
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need curl "apt-get install curl (or your package manager)"
need dotnet "install the .NET 10 SDK"
kubectl config current-context >/dev/null 2>&1 || { echo "error: kubectl has no current context (kind create cluster, or kubectl config use-context NAME)" >&2; exit 1; }
[ -n "${AzureWebJobsStorage:-}" ] || { echo "error: set AzureWebJobsStorage to the reaper's storage (UseDevelopmentStorage=true with Azurite)" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "error: timed out after ${limit}s waiting for $what" >&2; exit 1
}

step "namespace $ns and a demo app (nginx on 8080) with its Service"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
manifest=$(mktemp)
cat >"$manifest" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: demo
  namespace: $ns
  annotations:
    envoy-reaper/idle-timeout: "2m"
spec:
  replicas: 1
  selector: { matchLabels: { app: demo } }
  template:
    metadata: { labels: { app: demo } }
    spec:
      containers:
        - name: web
          image: nginxinc/nginx-unprivileged:1.27
          ports: [ { containerPort: 8080 } ]
---
apiVersion: v1
kind: Service
metadata: { name: demo, namespace: $ns }
spec:
  selector: { app: demo }
  ports: [ { name: http, port: 80, targetPort: 8080 } ]
YAML

step "inject the sidecar (envoy-reaper inject) and apply"
"${cli[@]}" inject -f "$manifest" --app-port 8080 | kubectl apply -f -
kubectl -n "$ns" rollout status deployment/demo --timeout=180s

step "one user: a request through the Service (port-forward), then nothing"
kubectl -n "$ns" port-forward svc/demo 18080:80 >/dev/null 2>&1 &
forward=$!
trap 'kill $forward 2>/dev/null || true' EXIT
wait_for 30 "the port-forward" curl -fsS http://127.0.0.1:18080/
kill $forward; trap - EXIT

step "the reaper's view"
"${cli[@]}" scan --output table || true

step "waiting for the teardown (idle timeout 2m + startup grace + a cycle; up to 15 minutes)"
wait_for 900 "deployment/demo to be reaped" bash -c "! kubectl -n '$ns' get deployment demo"
kubectl -n "$ns" get events --field-selector involvedObject.name=demo -o custom-columns=REASON:.reason,COUNT:.count,MESSAGE:.message

step "snapshots and restore"
"${cli[@]}" snapshots -n "$ns" -d demo
"${cli[@]}" restore -n "$ns" -d demo
wait_for 120 "deployment/demo to be back" kubectl -n "$ns" get deployment demo
echo "ok: injected, reaped and restored"
