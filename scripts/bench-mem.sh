#!/usr/bin/env bash
# bench-mem.sh — the TUI's memory at scale, for allocator experiments (issue 13; not part of the tests).
#
#   scripts/bench-mem.sh [SCALE=5000:50000:10000:2000] [SECONDS=45] [ENV=VALUE ...]
#
# Starts `ktriage sim --scenario scale:SCALE`, runs the release TUI (`--read-only`, 200×60 tmux) with the
# given environment (e.g. MALLOC_ARENA_MAX=1, MIMALLOC_PURGE_DELAY=0), samples its RSS every second for
# SECONDS and prints RSS at 5 s, at the end, the peak, and the CPU it used. Loopback only.
set -euo pipefail
SCALE=${1:-5000:50000:10000:2000}
DUR=${2:-45}
shift $(($# > 2 ? 2 : $#))
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${KTRIAGE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ktriage}
[[ -x $BIN ]] || { echo "bench-mem: no release build at $BIN (cargo build --release)" >&2; exit 2; }
d=$(mktemp -d)
sock=ktmem$$
"$BIN" sim --scenario "scale:$SCALE" --write-kubeconfig "$d/kc" > "$d/sim.out" 2>&1 &
sim=$!
trap 'tmux -L $sock kill-server 2>/dev/null || true; kill $sim 2>/dev/null || true; rm -rf "$d"' EXIT
for _ in $(seq 600); do [[ -s $d/kc ]] && break; sleep 0.1; done
[[ -s $d/kc ]] || { echo "bench-mem: the simulator did not start" >&2; cat "$d/sim.out" >&2; exit 1; }
tmux -L "$sock" new-session -d -x 200 -y 60 \
  "exec env $* $BIN --kubeconfig $d/kc --read-only --journal $d/j.jsonl --log-file $d/tui.log"
pid=$(tmux -L "$sock" display -p '#{pane_pid}')
peak=0 r5=0 r=0
for ((s = 1; s <= DUR; s++)); do
  sleep 1
  r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  ((r > peak)) && peak=$r
  ((s == 5)) && r5=$r
done
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{split($0, a, ") "); split(a[2], f, " "); print (f[12] + f[13]) / hz}' "/proc/$pid/stat")
echo "scale:$SCALE env[$*]: RSS at 5 s $((r5 / 1024)) MiB, at ${DUR} s $((r / 1024)) MiB, peak $((peak / 1024)) MiB, CPU ${cpu} s"
