"""Shared by the simulator benches (scripts/bench-record.py, scripts/bench-idle.py): the binary to
run, the simulator started on loopback with its kubeconfig, and its `/_sim/` control channel."""
import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary(who):
    """KTRIAGE_BIN, else $CARGO_TARGET_DIR/release/ktriage, else target/release/ktriage."""
    b = os.environ.get("KTRIAGE_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "ktriage")
    if not os.access(b, os.X_OK):
        sys.exit(f"{who}: no build at {b} (cargo build --release, or set KTRIAGE_BIN)")
    return b


class Sim:
    """`ktriage sim --scenario SCENARIO` writing its kubeconfig into `d` (and its request log when
    `reqlog` is given); `post(what, body)` talks to `/_sim/WHAT` with the admin token."""

    def __init__(self, bin_, scenario, d, who, reqlog=None):
        self.kc = f"{d}/kc"
        args = [bin_, "sim", "--scenario", scenario, "--write-kubeconfig", self.kc]
        if reqlog:
            args += ["--request-log", reqlog]
        self.proc = subprocess.Popen(args, stdout=open(f"{d}/sim.out", "w"), stderr=subprocess.STDOUT)
        t = time.time()
        while not (os.path.exists(self.kc) and os.path.getsize(self.kc) > 0):
            if self.proc.poll() is not None or time.time() - t > 120:
                sys.exit(f"{who}: the simulator did not start: " + open(f"{d}/sim.out").read())
            time.sleep(0.05)
        cfg = open(self.kc).read()
        get = lambda k: next(l.split(":", 1)[1].strip() for l in cfg.splitlines() if l.strip().startswith(k + ":"))
        self.server, self.token = get("server"), get("token")
        self.ctx = ssl.create_default_context(cadata=base64.b64decode(get("certificate-authority-data")).decode())

    def post(self, what, body):
        req = urllib.request.Request(f"{self.server}/_sim/{what}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "content-type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            r.read()

    def stop(self):
        self.proc.terminate()


def wait_synced(log, who, limit=120):
    """Until the console's log says every source synced."""
    t = time.time()
    while "all sources synced" not in (open(log).read() if os.path.exists(log) else ""):
        if time.time() - t > limit:
            sys.exit(f"{who}: the console did not sync in {limit} s")
        time.sleep(0.1)
