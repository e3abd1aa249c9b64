#!/usr/bin/env bash
# bench-start-etcd.sh — what one ktriage start costs etcd, read from the real kube-apiserver's own
# /metrics (issue 21 §1): etcd range reads by type (`etcd_request_duration_seconds_count`,
# operation="list") and LIST requests (`apiserver_request_total`, verb="LIST"), before and after one
# `ktriage report --observe 0` (every source starts, syncs once and stops), and its peak RSS.
#   scripts/bench-start-etcd.sh [PODS=20000] [NODES=200] [NAMESPACES=20] [BINARY...]
# BINARY defaults to target/debug/ktriage; several binaries (a build before a change and one after)
# are measured one after the other against the same filled server. PEERS=1 adds kdash and kubetui
# (see below). Binds only to 127.0.0.1.
set -euo pipefail
PODS=${1:-20000} NODES=${2:-200} NSS=${3:-20}
shift $(( $# < 3 ? $# : 3 ))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bins=("$@")
((${#bins[@]})) || bins=("${CARGO_TARGET_DIR:-$ROOT/target}/debug/ktriage")
dir=$(mktemp -d); trap '"$ROOT/scripts/real-apiserver.sh" stop "$dir/kas" >/dev/null 2>&1 || true' EXIT
"$ROOT/scripts/real-apiserver.sh" start "$dir/kas" > /dev/null
export KUBECONFIG=$dir/kas/admin.kubeconfig
t0=$(date +%s)
python3 "$ROOT/scripts/tier/fill.py" "$NODES" "$NSS" "$PODS" "$dir/kas"
echo "filled in $(( $(date +%s) - t0 )) s: $(kubectl get pods -A --no-headers | wc -l) pods, $NODES nodes" >&2
# etcd list reads by type, and LIST requests, as one line each: "what count"
snapshot() {
  kubectl get --raw /metrics | awk '
    /^etcd_request_duration_seconds_count\{/ && /operation="list"/ {
      match($0, /type="[^"]*"/); t = substr($0, RSTART + 6, RLENGTH - 7); e[t] += $NF }
    /^apiserver_request_total\{/ && /verb="LIST"/ { l += $NF }
    END { for (t in e) print "etcd-list " t, e[t]; print "LIST all", l }' | sort
}
echo "| binary | LIST requests | etcd list reads | etcd list reads by type | peak RSS |"
echo "|---|---|---|---|---|"
CACHE=${CACHE:-$HOME/.cache/ktriage-bench}
# PEERS=1: kdash and kubetui too (pinned by scripts/bench-peers.sh), each started in tmux, stopped
# after PEER_SECS (10): a TUI has no "sync once and stop", so their row is a start plus whatever they
# poll in that time
if [[ ${PEERS:-0} == 1 ]]; then
  bins+=("$CACHE/peers/bin/kdash" "$CACHE/peers/bin/kubetui")
fi
for b in "${bins[@]}"; do
  before=$(snapshot)
  case $(basename "$b") in
    kdash | kubetui)
      extra=; [[ $(basename "$b") == kubetui ]] && extra=-A
      tmux -L startetcd new-session -d -x 120 -y 40 "exec env KUBECONFIG=$KUBECONFIG HOME=$dir $b $extra"
      pid=$(tmux -L startetcd display -p '#{pane_pid}')
      sleep "${PEER_SECS:-10}"
      # its peak RSS so far (kB), as /usr/bin/time reports it for ktriage
      awk '/VmHWM/ {print $2}' "/proc/$pid/status" > "$dir/rss"
      tmux -L startetcd kill-server 2>/dev/null || true
      sleep 1
      ;;
    *)
      HOME=$dir XDG_STATE_HOME=$dir/state /usr/bin/time -f %M -o "$dir/rss" \
        "$b" report --kubeconfig "$KUBECONFIG" --observe 0 --format json > /dev/null || true
      ;;
  esac
  after=$(snapshot)
  delta=$(join -a2 -e0 -o 0,1.2,2.2 <(awk '{print $1"/"$2, $3}' <<< "$before") <(awk '{print $1"/"$2, $3}' <<< "$after") |
          awk '{d = $3 - $2; if (d > 0) print $1, d}')
  lists=$(awk '$1 == "LIST/all" {print $2}' <<< "$delta")
  etcd=$(awk '$1 ~ /^etcd-list/ {s += $2} END {print s + 0}' <<< "$delta")
  types=$(awk '$1 ~ /^etcd-list/ {sub("etcd-list/", "", $1); printf "%s %d; ", $1, $2}' <<< "$delta")
  rss=$(tail -1 "$dir/rss" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
  echo "| $b | ${lists:-0} | $etcd | ${types:--} | $((rss / 1024)) MiB |"
done
