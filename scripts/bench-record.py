#!/usr/bin/env python3
"""What the flight recorder costs on disk (not part of `cargo test`).

    scripts/bench-record.py [NODES PODS] [--secs 120] [--rate 10]

Release build expected: KTRIAGE_BIN, else $CARGO_TARGET_DIR/release/ktriage, else target/release.

1. `ktriage sim --scenario scale:NODES:PODS` (default 500 nodes, 5000 pods) on 127.0.0.1.
2. The console (`--read-only --record FILE`, 200x60, in tmux on its own socket) until every source
   synced; 15 s later (the recorder flushes at least every 10 s) the file's size is the start.
3. --rate pod changes per second for --secs (the pods of the scale scenario re-applied through
   /_sim/apply with a new restart count each: every change is one watch event, one recorded row),
   then 15 s more; the growth of the file over the window, per hour. Then an idle window of the
   same length (no changes): what the clock ticks, the evaluations, the metrics polls and the
   simulator's own churn cost per hour. The console quits with `q` and the recording is read back
   with `ktriage timeline` (it must replay).
Binds and connects only to 127.0.0.1. Needs tmux.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from simlib import Sim, binary, wait_synced

ap = argparse.ArgumentParser()
ap.add_argument("sizes", type=int, nargs="*")
ap.add_argument("--secs", type=int, default=120)
ap.add_argument("--rate", type=int, default=10)
a = ap.parse_args()
if a.sizes and len(a.sizes) != 2:
    sys.exit("bench-record: give NODES and PODS, or neither")
nodes, pods = a.sizes or [500, 5000]
BIN = binary("bench-record")
d = tempfile.mkdtemp(prefix="ktrec-")
rec, log = f"{d}/incident.ktriage.gz", f"{d}/tui.log"
TM = ["tmux", "-L", f"ktrec{os.getpid()}"]
sim = None


def cleanup():
    subprocess.run(TM + ["kill-server"], stderr=subprocess.DEVNULL)
    if sim:
        sim.stop()


def size():
    return os.path.getsize(rec) if os.path.exists(rec) else 0


try:
    sim = Sim(BIN, f"scale:{nodes}:{pods}", d, "bench-record")
    post = sim.post
    subprocess.run(TM + ["new-session", "-d", "-x", "200", "-y", "60",
                         f"exec {BIN} --kubeconfig {sim.kc} --read-only --record {rec} "
                         f"--journal {d}/journal.jsonl --log-file {log}"], check=True)
    wait_synced(log, "bench-record")
    time.sleep(15)
    start = size()
    print(f"scale:{nodes}:{pods}  files in {d}")
    print(f"  after sync (+15 s): {start} bytes (the lists every source delivered at start)")

    def churn(n, restarts):
        items = [{"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": f"churn-{i}", "namespace": "ns-0001", "uid": f"churn-uid-{i}"},
                  "spec": {"nodeName": "cp-0", "containers": [{"name": "c", "image": "busybox"}]},
                  "status": {"phase": "Running", "containerStatuses": [
                      {"name": "c", "ready": True, "restartCount": restarts, "image": "busybox",
                       "imageID": "", "state": {"running": {}}}]}} for i in range(n)]
        post("apply", {"apiVersion": "v1", "kind": "List", "items": items})

    # a fixed set of --rate pods, each changed once a second: --rate changes per second
    churn(a.rate, 0)
    time.sleep(15)
    w0, s0 = time.time(), size()
    for s in range(a.secs):
        churn(a.rate, s + 1)
        time.sleep(max(0.0, w0 + s + 1 - time.time()))
    time.sleep(15)
    w1, s1 = time.time(), size()
    per_hour = (s1 - s0) / (w1 - w0) * 3600
    print(f"  {a.rate} pod changes/s for {w1 - w0:.0f} s: +{s1 - s0} bytes -> {per_hour / 1e6:.2f} MB per hour")
    i0, is0 = time.time(), size()
    time.sleep(a.secs)
    i1, is1 = time.time(), size()
    idle = (is1 - is0) / (i1 - i0) * 3600
    print(f"  idle {i1 - i0:.0f} s: +{is1 - is0} bytes -> {idle / 1e6:.2f} MB per hour")
    subprocess.run(TM + ["send-keys", "q"], check=True)
    t = time.time()
    while subprocess.run(TM + ["has-session"], stderr=subprocess.DEVNULL).returncode == 0 and time.time() - t < 10:
        time.sleep(0.1)
    out = subprocess.run([BIN, "timeline", rec, "--format", "json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("bench-record: the recording does not replay: " + out.stderr)
    print(f"  final file {size()} bytes; `ktriage timeline` replays it: {len(json.loads(out.stdout))} entries")
finally:
    cleanup()
