#!/usr/bin/env bash
# soak.sh — a bounded soak of the TUI against the simulator (not part of `cargo test`).
#
#   scripts/soak.sh [SECONDS=600] [EVENTS_PER_SECOND=100]
#
# Starts `ktriage sim --scenario healthy`, runs `ktriage --read-only` on it in a detached tmux
# session (120×40), and every second posts EVENTS_PER_SECOND Events plus one new and one deleted
# Namespace through the simulator's control channel. Every 10 s it prints ktriage's RSS, threads
# and open file descriptors; ktriage itself logs its alive tokio tasks every 60 s, printed at the
# end. Binds and connects only to 127.0.0.1. Needs tmux, curl, python3.
set -euo pipefail
DUR=${1:-600}
RATE=${2:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${KTRIAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/ktriage}
[[ -x $BIN ]] || { echo "soak: build first (cargo build), or set KTRIAGE_BIN" >&2; exit 1; }
dir=$(mktemp -d)
session=ktriage-soak-$$
simpid=
cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  [[ -n $simpid ]] && kill "$simpid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
"$BIN" sim --scenario healthy --write-kubeconfig "$dir/kc" >"$dir/sim.out" 2>&1 &
simpid=$!
for _ in $(seq 100); do [[ -s $dir/kc ]] && break; sleep 0.1; done
[[ -s $dir/kc ]] || { echo "soak: the simulator did not start" >&2; cat "$dir/sim.out" >&2; exit 1; }
server=$(awk '/server:/ {print $2; exit}' "$dir/kc")
token=$(awk '/token:/ {print $2; exit}' "$dir/kc")
awk '/certificate-authority-data:/ {print $2; exit}' "$dir/kc" | base64 -d >"$dir/ca.pem"
post() { curl -sS --cacert "$dir/ca.pem" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -o /dev/null -w '%{http_code}' --data-binary @- "$server/_sim/$1"; }

tmux new-session -d -s "$session" -x 120 -y 40 \
  "exec $BIN --kubeconfig $dir/kc --read-only --journal $dir/journal.jsonl --log-file $dir/ktriage.log"
pid=$(tmux display -p -t "$session" '#{pane_pid}')
echo "soak: ktriage pid $pid, ${DUR}s at ${RATE} events/s, files in $dir"
printf '%6s %10s %8s %6s %10s\n' t_s rss_kib threads fds events
start=$(date +%s)
n=0
while :; do
  now=$(date +%s); t=$((now - start))
  ((t >= DUR)) && break
  kill -0 "$pid" 2>/dev/null || { echo "soak: ktriage exited" >&2; exit 1; }
  code=$(python3 - "$n" "$RATE" <<'PY' | post apply

import json, sys, time
n, rate = int(sys.argv[1]), int(sys.argv[2])
ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
items = [{"apiVersion": "v1", "kind": "Event",
          "metadata": {"name": f"soak-{n}-{i}", "namespace": "default"},
          "involvedObject": {"kind": "Pod", "namespace": "default", "name": f"web-{i % 7}"},
          "reason": "Soak", "message": f"soak event {n}/{i}", "type": "Warning" if i % 10 == 0 else "Normal",
          "count": 1, "firstTimestamp": ts, "lastTimestamp": ts} for i in range(rate)]
items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"soak-{n}"}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
)
  [[ $code == 200 ]] || echo "soak: apply answered $code" >&2
  if ((n >= 5)); then
    printf '{"apiVersion":"v1","kind":"Namespace","name":"soak-%d"}' $((n - 5)) | post delete >/dev/null
  fi
  n=$((n + 1))
  if ((t % 10 == 0)); then
    rss=$(awk '/VmRSS/ {print $2}' /proc/"$pid"/status)
    thr=$(awk '/Threads/ {print $2}' /proc/"$pid"/status)
    fds=$(ls /proc/"$pid"/fd | wc -l)
    printf '%6d %10d %8d %6d %10d\n' "$t" "$rss" "$thr" "$fds" $((n * RATE))
  fi
  sleep_to=$((start + t + 1)); while (( $(date +%s) < sleep_to )); do sleep 0.05; done
done
echo "soak: alive tokio tasks (logged every 60 s):"
grep -o 'tasks=[0-9]*' "$dir/ktriage.log" | tr '\n' ' ' || true; echo
echo "soak: ERROR lines in the log: $(grep -c 'ERROR' "$dir/ktriage.log" || true)"
