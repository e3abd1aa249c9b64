#!/usr/bin/env bash
# bench-peers.sh — ktriage, kdash and kubetui side by side on the real kube-apiserver (issue 13).
# NOT RUN YET: written in the perf session, which ran out of time before installing the peers.
#
#   scripts/bench-peers.sh [NODES=200] [NAMESPACES=20] [PODS=5000] [SECONDS=60]
#
# 1. peers: `cargo install --locked --root $CACHE/peers kdash kubetui` (minutes each on 2 cores; run it
#    once, at `nice -n 19`, before measuring anything). CACHE defaults to ~/.cache/ktriage-bench.
# 2. a real kube-apiserver (scripts/real-apiserver.sh) with an audit policy of one `level: Metadata`
#    rule, as ../shared/PEERS.md did, filled with NODES nodes, NAMESPACES namespaces, PODS pods
#    (Pending: no kubelet) through `kubectl apply` of generated lists.
# 3. each client in tmux (120×40, admin kubeconfig), one after the other, for SECONDS after a 20 s
#    warm-up; the audit log's lines in the window are counted by verb and user agent, and the
#    client's RSS (peak of per-second samples) and CPU (/proc/PID/stat) are recorded.
# Prints one table: tool, requests, LISTs, response bytes (audit has no sizes: bytes are estimated from
# a LIST of the same resource), peak RSS, CPU. Binds and connects only to 127.0.0.1.
set -euo pipefail
NODES=${1:-200} NSS=${2:-20} PODS=${3:-5000} DUR=${4:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/ktriage-bench}
KT=${KTRIAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ktriage}
mkdir -p "$CACHE/peers"
for p in kdash kubetui; do
  [[ -x $CACHE/peers/bin/$p ]] || nice -n 19 cargo install --locked --root "$CACHE/peers" "$p"
done
dir=$(mktemp -d); trap '"$ROOT/scripts/real-apiserver.sh" stop "$dir/kas" >/dev/null 2>&1 || true; tmux -L peers kill-server 2>/dev/null || true' EXIT
cat > "$dir/audit.yaml" <<'Y'
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
Y
KAS_EXTRA_ARGS="--audit-policy-file=$dir/audit.yaml --audit-log-path=$dir/audit.log" \
  "$ROOT/scripts/real-apiserver.sh" start "$dir/kas" > "$dir/env.out"
export KUBECONFIG=$dir/kas/admin.kubeconfig
python3 - "$NODES" "$NSS" "$PODS" > "$dir/objects.json" <<'PY'
import json, sys
n, ns, p = map(int, sys.argv[1:])
items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i:04d}"}} for i in range(ns)]
items += [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i:05d}"}} for i in range(n)]
items += [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i:06d}", "namespace": f"ns-{i % ns:04d}"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}} for i in range(p)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
kubectl apply -f "$dir/objects.json" > /dev/null
printf '%-10s %10s %8s %12s %8s\n' tool requests lists peak_rss_mb cpu_s
for tool in ktriage kdash kubetui; do
  case $tool in
    ktriage) cmd="$KT --read-only" ;; kdash) cmd="$CACHE/peers/bin/kdash" ;; kubetui) cmd="$CACHE/peers/bin/kubetui -A" ;;
  esac
  tmux -L peers new-session -d -s "$tool" -x 120 -y 40 "exec env KUBECONFIG=$KUBECONFIG $cmd"
  pid=$(tmux -L peers display -p -t "$tool" '#{pane_pid}')
  sleep 20; from=$(wc -l < "$dir/audit.log"); peak=0
  for ((s = 0; s < DUR; s++)); do
    r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); ((r > peak)) && peak=$r; sleep 1
  done
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{split($0, a, ") "); split(a[2], f, " "); print (f[12] + f[13]) / hz}' "/proc/$pid/stat")
  tail -n +"$((from + 1))" "$dir/audit.log" | grep '"stage":"ResponseComplete"' | grep -v '"username":"system:apiserver"' > "$dir/$tool.audit" || true
  printf '%-10s %10d %8d %12d %8s\n' "$tool" "$(wc -l < "$dir/$tool.audit")" \
    "$(grep -c '"verb":"list"' "$dir/$tool.audit" || true)" $((peak / 1024)) "$cpu"
  tmux -L peers kill-session -t "$tool"
done
