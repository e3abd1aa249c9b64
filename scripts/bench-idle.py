#!/usr/bin/env python3
"""What an idle console asks the API server, per minute (not part of `cargo test`).

    scripts/bench-idle.py [SCENARIO] [--settle 15] [--window 60]

KTRIAGE_BIN, else $CARGO_TARGET_DIR/release/ktriage, else target/release (a debug build counts the
same requests). `ktriage sim --scenario SCENARIO` (default `incident`: every poller has work) with
its request log; the console (`--read-only`, 160x48, in tmux on its own socket) until every source
synced, --settle seconds more, then every request it made in the next --window seconds, grouped
by verb and path (watch streams opened, GETs and LISTs with their query), and the total.
Binds and connects only to 127.0.0.1. Needs tmux.
"""
import argparse
import collections
import json
import os
import subprocess
import tempfile
import time

from simlib import Sim, binary, wait_synced

ap = argparse.ArgumentParser()
ap.add_argument("scenario", nargs="?", default="incident")
ap.add_argument("--settle", type=int, default=15)
ap.add_argument("--window", type=int, default=60)
a = ap.parse_args()
BIN = binary("bench-idle")
d = tempfile.mkdtemp(prefix="ktidle-")
reqlog, log = f"{d}/requests.jsonl", f"{d}/tui.log"
TM = ["tmux", "-L", f"ktidle{os.getpid()}"]
sim = Sim(BIN, a.scenario, d, "bench-idle", reqlog=reqlog)
try:
    subprocess.run(TM + ["new-session", "-d", "-x", "160", "-y", "48",
                         f"exec {BIN} --kubeconfig {sim.kc} --read-only --journal {d}/j.jsonl --log-file {log}"],
                   check=True)
    wait_synced(log, "bench-idle")
    time.sleep(a.settle)
    t0 = int(time.time() * 1000)
    time.sleep(a.window)
    t1 = int(time.time() * 1000)
finally:
    subprocess.run(TM + ["kill-server"], stderr=subprocess.DEVNULL)
    sim.stop()
by = collections.Counter()
for line in open(reqlog):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if not (t0 <= r.get("ts_ms", 0) < t1) or r["path"].startswith("/_sim") or r.get("stream_end"):
        continue
    q = r.get("query") or ""
    verb = "WATCH" if "watch=" in q else r["method"]
    by[(verb, r["path"], "" if verb == "WATCH" else q)] += 1
print(f"{a.scenario}: requests of an idle console in {a.window} s (after sync + {a.settle} s); files in {d}")
total = 0
groups = collections.Counter()


def kind(verb, path):
    """What a request is for: etcd logs, previous logs, metrics, the Terminating-namespace content
    scan, discovery, or its path."""
    p = path.strip("/").split("/")
    if path.endswith("/log"):
        return "etcd pod logs" if "/pods/etcd-" in path else "previous logs (crash-looping)"
    if verb == "GET" and path.rstrip("/") in ("/api", "/apis") or (verb == "GET" and (
            (p[0] == "api" and len(p) == 2) or (p[0] == "apis" and len(p) == 3))):
        return "discovery"
    if "namespaces" in p and verb == "GET" and len(p) - p.index("namespaces") == 3:
        return "Terminating-namespace content scan"
    if "metrics.k8s.io" in path:
        return "metrics.k8s.io"
    return path


for (verb, path, q), n in by.items():
    total += n
    groups[(verb, kind(verb, path))] += n
for (verb, k), n in sorted(groups.items(), key=lambda x: -x[1]):
    print(f"  {n:5d}  {verb:6s} {k}")
print(f"  {total:5d}  total")
