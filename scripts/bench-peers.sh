#!/usr/bin/env bash
# bench-peers.sh — ktriage, kdash and kubetui side by side on the real kube-apiserver (issue 13).
#   scripts/bench-peers.sh [NODES=200] [NAMESPACES=20] [PODS=5000] [SECONDS=60]
#
# 1. peers, pinned: `cargo install --locked --version $KDASH_VERSION --root $CACHE/peers kdash` and the
#    same for kubetui $KUBETUI_VERSION (minutes each on 2 cores; done once, at `nice -n 19`, before
#    anything is measured; a different version already there is replaced). CACHE defaults to
#    ~/.cache/ktriage-bench, outside the repository.
# 2. a real kube-apiserver (scripts/real-apiserver.sh) with an audit policy of one `level: Metadata`
#    rule, as ../shared/PEERS.md did, filled with NODES nodes, NAMESPACES namespaces, PODS pods
#    (Pending: no kubelet) through `kubectl create` of a generated list.
# 3. each client in tmux (120×40, admin kubeconfig), one after the other, for SECONDS after a 20 s
#    warm-up; the audit log's ResponseComplete lines in the window are counted by verb, the API
#    server's and the control plane's own requests left out by user name (`system:apiserver`,
#    `system:kube-*`): every client here authenticates as the admin, so nothing tells them apart but
#    the window, and they run one after the other. The client's RSS (peak of per-second samples) and
#    CPU (/proc/PID/stat) are recorded.
# Prints one markdown table: requests, LISTs and pod LISTs per minute (audit log), MiB received per
# minute (TCP bytes_received on the client's sockets, from `ss -tinp`), peak RSS, CPU over the window.
# Binds and connects only to 127.0.0.1.
set -euo pipefail
NODES=${1:-200} NSS=${2:-20} PODS=${3:-5000} DUR=${4:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/ktriage-bench}
KT=${KTRIAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ktriage}
# the versions BENCHMARKS.md names
KDASH_VERSION=${KDASH_VERSION:-2.1.1}
KUBETUI_VERSION=${KUBETUI_VERSION:-1.14.0}
mkdir -p "$CACHE/peers"
for pv in "kdash $KDASH_VERSION" "kubetui $KUBETUI_VERSION"; do
  read -r p v <<< "$pv"
  # cargo install records what it installed: reinstall only when the pinned version is not there
  if ! grep -qs "\"$p $v " "$CACHE/peers/.crates.toml" || [[ ! -x $CACHE/peers/bin/$p ]]; then
    nice -n 19 cargo install --locked --force --version "$v" --root "$CACHE/peers" "$p"
  fi
done
dir=$(mktemp -d); trap '"$ROOT/scripts/real-apiserver.sh" stop "$dir/kas" >/dev/null 2>&1 || true; tmux -L peers kill-server 2>/dev/null || true' EXIT
# shellcheck source=scripts/tier/bench-lib.sh
. "$ROOT/scripts/tier/bench-lib.sh"
audited_cluster "$NODES" "$NSS" "$PODS"

printf '| tool | requests/min | LISTs/min | all-pods LISTs/min (per-namespace LISTs summed) | KiB received/min | peak RSS MiB | CPU %% of a core |\n|---|---|---|---|---|---|---|\n'
for tool in ktriage kdash kubetui; do
  case $tool in
    ktriage) cmd="$KT --read-only --journal $dir/journal.jsonl --log-file $dir/ktriage.log" ;;
    kdash) cmd="$CACHE/peers/bin/kdash" ;;
    kubetui) cmd="$CACHE/peers/bin/kubetui -A" ;;
  esac
  tmux -L peers new-session -d -s "$tool" -x 120 -y 40 "exec env KUBECONFIG=$KUBECONFIG HOME=$dir $cmd"
  pid=$(tmux -L peers display -p -t "$tool" '#{pane_pid}')
  sleep 20
  from=$(wc -l < "$dir/audit.log"); peak=0; rx0=$(rx "$pid"); cpu0=$(cpu "$pid")
  for ((s = 0; s < DUR; s++)); do
    r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); ((r > peak)) && peak=$r; sleep 1
  done
  rx1=$(rx "$pid"); cpu1=$(cpu "$pid")
  tail -n +"$((from + 1))" "$dir/audit.log" | grep '"stage":"ResponseComplete"' \
    | grep -v '"username":"system:apiserver"' | grep -v '"username":"system:kube' > "$dir/$tool.audit" || true
  n=$(wc -l < "$dir/$tool.audit")
  lists=$(grep -c '"verb":"list"' "$dir/$tool.audit" || true)
  # a LIST of the pods of every namespace (kubetui lists per namespace: those are counted too, as
  # 1/NAMESPACES each), without a label or field selector (the etcd probe's `component=etcd` is not one)
  podlists=$(python3 - "$dir/$tool.audit" "$NSS" <<'PY'
import json, re, sys
n = 0.0
for line in open(sys.argv[1]):
    r = json.loads(line)
    uri = r["requestURI"]
    if r["verb"] != "list" or "Selector=" in uri:
        continue
    path = uri.split("?")[0]
    if path == "/api/v1/pods":
        n += 1
    elif re.fullmatch(r"/api/v1/namespaces/ns-\d+/pods", path):
        n += 1 / int(sys.argv[2])
print(round(n))
PY
)
  awk -v t="$tool" -v n="$n" -v l="$lists" -v pl="$podlists" -v d="$DUR" -v b="$((rx1 - rx0))" -v pk="$peak" -v c0="$cpu0" -v c1="$cpu1" \
    'BEGIN {m = d / 60; printf "| %s | %.0f | %.0f | %.0f | %.0f | %d | %.1f |\n", t, n / m, l / m, pl / m, b / 1024 / m, pk / 1024, (c1 - c0) * 100 / d}'
  # what each tool asked for most (for BENCHMARKS.md)
  python3 - "$dir/$tool.audit" >&2 <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    r = json.loads(line)
    c[(r["verb"], r["requestURI"].split("?")[0])] += 1
print(sys.argv[1].rsplit("/", 1)[1], "top requests:", "; ".join(f"{n}× {v} {p}" for (v, p), n in c.most_common(4)))
PY
  tmux -L peers kill-session -t "$tool"
  sleep 2
done
