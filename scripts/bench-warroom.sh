#!/usr/bin/env bash
# bench-warroom.sh — a war room of consoles on one cluster (issue 21 §2): COPIES ktriage, then COPIES
# kdash, then COPIES kubetui, each group started at once against the same real kube-apiserver, and
# what the group costs the API server (not the clients).
#   scripts/bench-warroom.sh [NODES=200] [NAMESPACES=20] [PODS=5000] [SECONDS=60] [COPIES=5]
#   GROUPS_RUN="5:ktriage 1:kdash" scripts/bench-warroom.sh …   (other groups; the default is
#   COPIES of each tool, then one kdash)
#
# The cluster is the one scripts/bench-peers.sh builds (real kube-apiserver v1.20.2 on one real etcd,
# audit level Metadata, NODES nodes, NAMESPACES namespaces, PODS Pending pods); the peers are the
# pinned versions bench-peers.sh installs (run it once first). Each group runs in one tmux server,
# one 120×40 session per console (as five people in their own panes), admin kubeconfig; ktriage
# `--read-only` (release build), kdash its default view, kubetui `-A`. Two windows per group:
#   start  — the first 20 s from the moment the consoles are started (every console's first lists)
#   steady — the next SECONDS
# For each: requests (audit ResponseComplete lines, the control plane's own left out by user name),
# LISTs, MiB of the server's non-watch answers (its apiserver_response_sizes histogram), MiB on the
# consoles' open TCP sockets (bytes_received, TLS included; a connection closed inside the window is
# missed, so a client that reconnects per request is understated), CPU seconds of kube-apiserver
# and of etcd (/proc/PID/stat). A quiet server's own CPU
# over a window of the same length (no console) is printed first, to subtract by eye.
# Binds and connects only to 127.0.0.1.
set -euo pipefail
NODES=${1:-200} NSS=${2:-20} PODS=${3:-5000} DUR=${4:-60} COPIES=${5:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/ktriage-bench}
KT=${KTRIAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ktriage}
for p in kdash kubetui; do
  [[ -x $CACHE/peers/bin/$p ]] || { echo "no $p in $CACHE/peers: run scripts/bench-peers.sh once" >&2; exit 2; }
done
START=20
dir=$(mktemp -d)
trap '"$ROOT/scripts/real-apiserver.sh" stop "$dir/kas" >/dev/null 2>&1 || true; tmux -L warroom kill-server 2>/dev/null || true' EXIT
# shellcheck source=scripts/tier/bench-lib.sh
. "$ROOT/scripts/tier/bench-lib.sh"
audited_cluster "$NODES" "$NSS" "$PODS"
kas=$(cat "$dir/kas/kube-apiserver.pid")
etcd=$(cat "$dir/kas/etcd1/pid" 2>/dev/null || cat "$dir/kas"/etcd*/pid | head -1)

# requests and LISTs in the audit log between two line numbers, the control plane's own left out
audit() {
  sed -n "$(($1 + 1)),$2p" "$dir/audit.log" | grep '"stage":"ResponseComplete"' \
    | grep -v '"username":"system:apiserver"' | grep -v '"username":"system:kube' \
    | grep -v '"requestURI":"/metrics"' > "$dir/window" || true
  echo "$(wc -l < "$dir/window") $(grep -c '"verb":"list"' "$dir/window" || true)"
}
# bytes of the server's non-watch answers (its own `apiserver_response_sizes` histogram: LISTs and
# GETs, watch events not included); the /metrics GET that reads it is left out of the counts above
sizes() { kubectl get --raw /metrics | awk '/^apiserver_response_sizes_sum/ {t += $NF} END {printf "%.0f", t}'; }
mark() { echo "$(wc -l < "$dir/audit.log") $(cpu "$kas") $(cpu "$etcd") $(sizes)"; }
row() { # group window seconds "audit0 kas0 etcd0 sizes0" "audit1 kas1 etcd1 sizes1" rx0 rx1
  read -r a0 k0 e0 z0 <<< "$4"; read -r a1 k1 e1 z1 <<< "$5"
  read -r n l <<< "$(audit "$a0" "$a1")"
  awk -v t="$1" -v w="$2" -v s="$3" -v n="$n" -v l="$l" -v k0="$k0" -v k1="$k1" -v e0="$e0" -v e1="$e1" \
    -v z="$((z1 - z0))" -v b="$(($7 - $6))" \
    'BEGIN {printf "| %s | %s (%d s) | %d | %d | %.1f | %.1f | %.2f | %.2f |\n", t, w, s, n, l, z / 1048576, b / 1048576, k1 - k0, e1 - e0}'
}

sleep 10
m0=$(mark); sleep "$DUR"; m1=$(mark)
printf '| consoles | window | requests | LISTs | MiB answered (non-watch) | MiB on their open sockets | kube-apiserver CPU s | etcd CPU s |\n|---|---|---|---|---|---|---|---|\n'
row "none (the quiet server)" quiet "$DUR" "$m0" "$m1" 0 0

# GROUPS: "COUNT:TOOL …", run one after the other (a single kdash last: "5 ktriage cost the server
# less than 1 kdash" is read from the table)
for group in ${GROUPS_RUN:-$COPIES:ktriage $COPIES:kdash $COPIES:kubetui 1:kdash}; do
  COPIES=${group%%:*} tool=${group#*:}
  case $tool in
    ktriage) cmd="$KT --read-only --journal $dir/journal-\$i.jsonl --log-file $dir/ktriage-\$i.log" ;;
    kdash) cmd="$CACHE/peers/bin/kdash" ;;
    kubetui) cmd="$CACHE/peers/bin/kubetui -A" ;;
  esac
  m0=$(mark)
  pids=()
  for ((i = 1; i <= COPIES; i++)); do
    c=${cmd//\$i/$i}
    mkdir -p "$dir/home-$tool-$i"
    tmux -L warroom new-session -d -s "$tool-$i" -x 120 -y 40 "exec env KUBECONFIG=$KUBECONFIG HOME=$dir/home-$tool-$i $c"
    pids+=("$(tmux -L warroom display -p -t "$tool-$i" '#{pane_pid}')")
  done
  # sockets opened and closed within the start window are not counted: an understatement for all
  r0=0; sleep "$START"
  m1=$(mark); r1=$(rx "${pids[@]}")
  sleep "$DUR"
  m2=$(mark); r2=$(rx "${pids[@]}")
  row "$COPIES × $tool" start "$START" "$m0" "$m1" "$r0" "$r1"
  row "$COPIES × $tool" steady "$DUR" "$m1" "$m2" "$r1" "$r2"
  for ((i = 1; i <= COPIES; i++)); do tmux -L warroom kill-session -t "$tool-$i"; done
  sleep 5
done
