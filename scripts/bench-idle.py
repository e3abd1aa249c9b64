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
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("scenario", nargs="?", default="incident")
ap.add_argument("--settle", type=int, default=15)
ap.add_argument("--window", type=int, default=60)
a = ap.parse_args()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("KTRIAGE_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "ktriage")
if not os.access(BIN, os.X_OK):
    sys.exit(f"bench-idle: no build at {BIN} (cargo build --release, or set KTRIAGE_BIN)")
d = tempfile.mkdtemp(prefix="ktidle-")
kc, reqlog, log = f"{d}/kc", f"{d}/requests.jsonl", f"{d}/tui.log"
TM = ["tmux", "-L", f"ktidle{os.getpid()}"]
sim = subprocess.Popen([BIN, "sim", "--scenario", a.scenario, "--write-kubeconfig", kc,
                        "--request-log", reqlog], stdout=open(f"{d}/sim.out", "w"), stderr=subprocess.STDOUT)
try:
    t = time.time()
    while not (os.path.exists(kc) and os.path.getsize(kc) > 0):
        if sim.poll() is not None or time.time() - t > 60:
            sys.exit("bench-idle: the simulator did not start: " + open(f"{d}/sim.out").read())
        time.sleep(0.05)
    subprocess.run(TM + ["new-session", "-d", "-x", "160", "-y", "48",
                         f"exec {BIN} --kubeconfig {kc} --read-only --journal {d}/j.jsonl --log-file {log}"],
                   check=True)
    t = time.time()
    while "all sources synced" not in (open(log).read() if os.path.exists(log) else ""):
        if time.time() - t > 120:
            sys.exit("bench-idle: the console did not sync in 120 s")
        time.sleep(0.1)
    time.sleep(a.settle)
    t0 = int(time.time() * 1000)
    time.sleep(a.window)
    t1 = int(time.time() * 1000)
finally:
    subprocess.run(TM + ["kill-server"], stderr=subprocess.DEVNULL)
    sim.terminate()
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
for (verb, path, q), n in sorted(by.items(), key=lambda x: -x[1]):
    total += n
    p = path.strip("/").split("/")
    kind = ("log" if path.endswith("/log") else
            "metrics" if "metrics.k8s.io" in path else
            "content scan" if "namespaces" in p and len(p) >= 5 and p[-1] not in ("log",) else
            "discovery" if len(p) <= 3 and verb == "GET" and "namespaces" not in p else path)
    groups[(verb, kind)] += n
for (verb, kind), n in sorted(groups.items(), key=lambda x: -x[1]):
    print(f"  {n:5d}  {verb:6s} {kind}")
print(f"  {total:5d}  total")
