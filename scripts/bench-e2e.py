#!/usr/bin/env python3
"""End-to-end bench of ktriage against the simulator (not part of `cargo test`).

    scripts/bench-e2e.py NODES PODS [EVENTS [NAMESPACES]] [--observe 30] [--idle 30]
                         [--load-secs 20] [--lat-samples 20] [--lat-rate 1000]

Release build expected: KTRIAGE_BIN, else $CARGO_TARGET_DIR/release/ktriage, else target/release.

1. `ktriage sim --scenario scale:NODES:PODS:EVENTS:NAMESPACES --request-log L` on 127.0.0.1.
2. `ktriage report --format json --observe 30s`: wall, max RSS, CPU, requests by verb.
3. The TUI (`--read-only`, 200x60, in tmux on its own socket): first frame, "all sources synced"
   and the first complete frame (every source synced, the rules evaluated on it: time to first
   finding) from its log (ms since process start); then an idle window (no changes): requests and bytes by
   verb from the request log, CPU from /proc/PID/stat, bytes received on its TCP sockets (ss -tinp), RSS; then a
   window of 100 object changes per second (Events posted through /_sim/apply): CPU and RSS;
   then event-to-screen latency: the Top pane filtered to `latprobe`, a Pod `latprobe-K` posted
   through /_sim/apply while Events arrive at --lat-rate per second, and `tmux capture-pane` polled
   every 5 ms until the name appears (the figure includes tmux's own redraw); then 100 pod changes
   per second for --load-secs with the Top pane on screen (CPU); then, while they go on, a pod that
   starts crash-looping, --lat-samples times: the time until its finding shows in the Timeline pane.
Binds and connects only to 127.0.0.1. Needs tmux and /usr/bin/time.
"""
import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("sizes", type=int, nargs="+")
ap.add_argument("--observe", type=int, default=30)
ap.add_argument("--idle", type=int, default=30)
ap.add_argument("--load-secs", type=int, default=20)
ap.add_argument("--lat-samples", type=int, default=20)
ap.add_argument("--lat-rate", type=int, default=1000)
a = ap.parse_args()
nodes, pods = a.sizes[0], a.sizes[1]
events = a.sizes[2] if len(a.sizes) > 2 else pods // 5
nss = a.sizes[3] if len(a.sizes) > 3 else max(1, min(2000, pods // 25))
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("KTRIAGE_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "ktriage")
if not os.access(BIN, os.X_OK):
    sys.exit(f"bench-e2e: no release build at {BIN} (cargo build --release, or set KTRIAGE_BIN)")
d = tempfile.mkdtemp(prefix="ktbench-")
kc, reqlog, tuilog = f"{d}/kc", f"{d}/requests.jsonl", f"{d}/tui.log"
TM = ["tmux", "-L", f"ktbench{os.getpid()}"]
HZ = os.sysconf("SC_CLK_TCK")
sim = None


def now_ms():
    return int(time.time() * 1000)


def cleanup():
    subprocess.run(TM + ["kill-server"], stderr=subprocess.DEVNULL)
    if sim:
        sim.terminate()


def until_on_screen(name, t):
    """ms from t until the pane shows name (tmux capture-pane every 5 ms); inf after 10 s."""
    while True:
        out = subprocess.run(TM + ["capture-pane", "-p"], capture_output=True, text=True).stdout
        if name in out:
            return (time.time() - t) * 1000
        if time.time() - t > 10:
            return float("inf")
        time.sleep(0.005)


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ


def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rchar(pid):
    """Bytes received on the process's open TCP sockets (`ss -tinp`: bytes_received), TLS included.
    A socket closed inside a window is not counted (watches last 55 s, longer than the windows)."""
    out = subprocess.run(["ss", "-tinpH"], capture_output=True, text=True).stdout.splitlines()
    total, mine = 0, False
    for line in out:
        if not line.startswith((" ", "\t")):
            mine = f"pid={pid}," in line
        elif mine and "bytes_received:" in line:
            total += int(line.split("bytes_received:")[1].split()[0])
    return total


def verb(r):
    """LIST / GET / WATCH / other method, from a request-log line."""
    if r["method"] != "GET":
        return r["method"]
    q = r.get("query") or ""
    if "watch=true" in q or "watch=1" in q:
        return "WATCH"
    p = r["path"].strip("/").split("/")
    if p[:1] == ["api"]:
        rest = p[2:]
    elif p[:1] == ["apis"]:
        rest = p[3:]
    else:
        return "GET(other)"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return "LIST" if len(rest) == 1 else "GET"


def window(t0, t1):
    rows = []
    for line in open(reqlog):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if t0 <= r.get("ts_ms", 0) < t1 and not r["path"].startswith("/_sim"):
            rows.append(r)
    by = {}
    for r in rows:
        k = verb(r)
        if "metrics.k8s.io" in r["path"]:
            k += " metrics"
        c = by.setdefault(k, [0, 0, set()])
        if not r.get("stream_end"):
            c[0] += 1
        c[1] += r.get("bytes", 0)
        c[2].add(r["path"])
    return by


def show(title, by, secs):
    print(f"  {title} ({secs:.0f} s): verb requests bytes(*) paths")
    for k, (n, b, paths) in sorted(by.items()):
        ps = sorted(paths)
        print(f"    {k:16s} {n:6d} {b:12d}  {', '.join(ps[:4])}{' …' if len(ps) > 4 else ''}")


try:
    t = time.time()
    sim = subprocess.Popen([BIN, "sim", "--scenario", f"scale:{nodes}:{pods}:{events}:{nss}",
                            "--write-kubeconfig", kc, "--request-log", reqlog],
                           stdout=open(f"{d}/sim.out", "w"), stderr=subprocess.STDOUT)
    while not (os.path.exists(kc) and os.path.getsize(kc) > 0):
        if sim.poll() is not None or time.time() - t > 120:
            sys.exit("bench-e2e: the simulator did not start: " + open(f"{d}/sim.out").read())
        time.sleep(0.05)
    print(f"scale:{nodes}:{pods}:{events}:{nss}  files in {d}")
    print(f"  simulator ready after {time.time() - t:.2f} s, sim RSS {status(sim.pid, 'VmRSS') // 1024} MiB")
    cfg = open(kc).read()
    get = lambda k: next(l.split(":", 1)[1].strip() for l in cfg.splitlines() if l.strip().startswith(k + ":"))
    server, token = get("server"), get("token")
    ctx = ssl.create_default_context(cadata=base64.b64decode(get("certificate-authority-data")).decode())

    def post(what, body):
        req = urllib.request.Request(f"{server}/_sim/{what}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            r.read()

    seq = [0]

    def events_batch(n):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        items = []
        for _ in range(n):
            seq[0] += 1
            i = seq[0]
            items.append({"apiVersion": "v1", "kind": "Event",
                          "metadata": {"name": f"bench-{i}", "namespace": f"ns-{i % nss:04d}"},
                          "involvedObject": {"kind": "Pod", "namespace": f"ns-{i % nss:04d}", "name": f"p-{i % 97}"},
                          "reason": "Bench", "message": f"bench {i}", "type": "Normal",
                          "count": 1, "firstTimestamp": ts, "lastTimestamp": ts})
        post("apply", {"apiVersion": "v1", "kind": "List", "items": items})

    # -- 2. report
    t0 = now_ms()
    rep = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", BIN, "--kubeconfig", kc, "report",
                          "--format", "json", "--observe", f"{a.observe}s"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t1 = now_ms()
    wall, rss, us, ss = rep.stderr.strip().splitlines()[-1].split()
    print(f"  report --observe {a.observe}s: exit {rep.returncode}, wall {wall} s, max RSS {int(rss) // 1024} MiB, "
          f"CPU {float(us) + float(ss):.2f} s")
    show("report requests", window(t0, t1 + 1), (t1 - t0) / 1000)

    # -- 3. TUI
    t_launch = now_ms()
    subprocess.run(TM + ["new-session", "-d", "-x", "200", "-y", "60",
                         f"exec {BIN} --kubeconfig {kc} --read-only --journal {d}/journal.jsonl --log-file {tuilog}"],
                   check=True)
    pid = int(subprocess.run(TM + ["display", "-p", "#{pane_pid}"], capture_output=True, text=True).stdout)

    def log_ms(what):
        try:
            for line in open(tuilog):
                if what in line and "ms=" in line:
                    return float(line.split("ms=")[1].split()[0])
        except FileNotFoundError:
            pass
        return None

    while log_ms("all sources synced") is None:
        if time.time() * 1000 - t_launch > 120_000:
            sys.exit("bench-e2e: TUI did not sync in 120 s")
        time.sleep(0.05)
    ff, synced = log_ms("first frame drawn"), log_ms("all sources synced")
    t_synced = now_ms()
    # the first frame of the complete picture: every source synced, the rules evaluated on it
    while log_ms("first complete frame drawn") is None and now_ms() - t_synced < 10_000:
        time.sleep(0.02)
    complete = log_ms("first complete frame drawn")
    print(f"  TUI: first frame {ff:.1f} ms (the loading screen), all sources synced {synced:.0f} ms, "
          f"first complete frame (findings on screen) {complete if complete is None else round(complete)} ms "
          f"after process start; RSS at sync {status(pid, 'VmRSS') // 1024} MiB")
    print(f"  TUI sync requests: see below (launch to sync + 1 s)")
    show("sync", window(t_launch, t_synced + 1000), (t_synced + 1000 - t_launch) / 1000)
    time.sleep(5)

    # idle
    w0, c0, b0 = now_ms(), cpu_s(pid), rchar(pid)
    rss0 = status(pid, "VmRSS")
    time.sleep(a.idle)
    w1, c1, b1 = now_ms(), cpu_s(pid), rchar(pid)
    secs = (w1 - w0) / 1000
    print(f"  idle {secs:.0f} s: CPU {100 * (c1 - c0) / secs:.2f} % of one core, TCP bytes received {b1 - b0} "
          f"({(b1 - b0) / secs * 60:.0f}/min), RSS {rss0 // 1024} -> {status(pid, 'VmRSS') // 1024} MiB")
    show("steady state, idle", window(w0, w1), secs)

    # 100 changes per second
    w0, c0, b0 = now_ms(), cpu_s(pid), rchar(pid)
    posted = 0
    for s in range(a.load_secs):
        nxt = w0 / 1000 + s + 1
        events_batch(100)
        posted += 100
        time.sleep(max(0.0, nxt - time.time()))
    w1, c1, b1 = now_ms(), cpu_s(pid), rchar(pid)
    secs = (w1 - w0) / 1000
    print(f"  100 changes/s for {secs:.0f} s ({posted} Events): CPU {100 * (c1 - c0) / secs:.2f} % of one core, "
          f"TCP bytes received {b1 - b0} ({(b1 - b0) / posted:.0f} per change), RSS {status(pid, 'VmRSS') // 1024} MiB")
    show("steady state, 100 changes/s", window(w0, w1), secs)

    # event-to-screen latency under --lat-rate events/s
    for keys in (["5"], ["/"], list("latprobe"), ["Enter"]):
        subprocess.run(TM + ["send-keys"] + keys, check=True)
    time.sleep(0.5)
    stop = threading.Event()
    sent = [0]

    def load():
        per, start = a.lat_rate // 10, time.time()
        k = 0
        while not stop.is_set():
            events_batch(per)
            sent[0] += per
            k += 1
            time.sleep(max(0.0, start + k * 0.1 - time.time()))

    th = threading.Thread(target=load, daemon=True)
    l0 = time.time()
    if a.lat_rate > 0:
        th.start()
    time.sleep(1)
    lats = []
    for k in range(a.lat_samples):
        name = f"latprobe-{k}"
        t = time.time()
        post("apply", {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "ns-0000", "uid": f"latprobe-uid-{k}"},
                       "spec": {"nodeName": "cp-0", "containers": [{"name": "c", "image": "busybox"}]},
                       "status": {"phase": "Running"}})
        lats.append(until_on_screen(name, t))
        time.sleep(0.2)
    stop.set()
    rate = sent[0] / (time.time() - l0)
    lats.sort()
    p = lambda q: lats[min(len(lats) - 1, int(q * len(lats)))]
    print(f"  event-to-screen ({len(lats)} Pods, {rate:.0f} Events/s achieved): min {lats[0]:.0f}, "
          f"p50 {p(0.5):.0f}, p99/max {lats[-1]:.0f} ms")

    # 100 pod changes per second with the Top pane on screen, unfiltered and sorted by memory: every
    # change moves the pods' revision, so the per-pod rules rerun (paced) and Top's order is rebuilt
    # (paced for large tables). 100 pods of our own, re-applied each second with a new restart count.
    for keys in (["/"], ["Escape"]):
        subprocess.run(TM + ["send-keys"] + keys, check=True)

    def pods_batch(n, restarts):
        items = [{"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": f"churn-{i}", "namespace": "ns-0001", "uid": f"churn-uid-{i}"},
                  "spec": {"nodeName": "cp-0", "containers": [{"name": "c", "image": "busybox"}]},
                  "status": {"phase": "Running", "containerStatuses": [
                      {"name": "c", "ready": True, "restartCount": restarts, "image": "busybox",
                       "imageID": "", "state": {"running": {}}}]}} for i in range(n)]
        post("apply", {"apiVersion": "v1", "kind": "List", "items": items})

    if a.load_secs > 0:
        pods_batch(100, 0)
        time.sleep(3)
        w0, c0 = now_ms(), cpu_s(pid)
        for s in range(a.load_secs):
            nxt = w0 / 1000 + s + 1
            pods_batch(100, s + 1)
            time.sleep(max(0.0, nxt - time.time()))
        w1, c1 = now_ms(), cpu_s(pid)
        secs = (w1 - w0) / 1000
        print(f"  100 pod changes/s for {secs:.0f} s, Top pane on screen: CPU {100 * (c1 - c0) / secs:.2f} % of "
              f"one core, RSS {status(pid, 'VmRSS') // 1024} MiB")

        # change-to-finding: while the 100 pod changes/s go on, a pod that starts crash-looping is
        # posted; the time until its `pod-crashloop` finding shows in the Timeline pane (filtered to
        # it) is the pod's watch event, the rules and a frame (and tmux's redraw)
        churn_stop = threading.Event()

        def churn():
            k = a.load_secs + 1
            start = time.time()
            while not churn_stop.is_set():
                k += 1
                pods_batch(100, k)
                time.sleep(max(0.0, start + (k - a.load_secs - 1) - time.time()))

        ch = threading.Thread(target=churn, daemon=True)
        ch.start()
        for keys in (["9"], ["/"], list("latfind"), ["Enter"]):
            subprocess.run(TM + ["send-keys"] + keys, check=True)
        time.sleep(1)
        flats = []
        for k in range(a.lat_samples):
            name = f"latfind-{k}"
            t = time.time()
            post("apply", {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "ns-0002", "uid": f"latfind-uid-{k}"},
                           "spec": {"nodeName": "cp-0", "containers": [{"name": "c", "image": "busybox"}]},
                           "status": {"phase": "Running", "containerStatuses": [
                               {"name": "c", "ready": False, "restartCount": 3, "image": "busybox", "imageID": "",
                                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}})
            flats.append(until_on_screen(name, t))
            time.sleep(0.3)
        churn_stop.set()
        flats.sort()
        p = lambda q: flats[min(len(flats) - 1, int(q * len(flats)))]
        print(f"  change-to-finding under 100 pod changes/s ({len(flats)} crash-looping pods, Timeline "
              f"pane): min {flats[0]:.0f}, p50 {p(0.5):.0f}, p99/max {flats[-1]:.0f} ms")
    print(f"  TUI at the end: RSS {status(pid, 'VmRSS') // 1024} MiB, peak {status(pid, 'VmHWM') // 1024} MiB, "
          f"CPU total {cpu_s(pid):.1f} s; sim RSS {status(sim.pid, 'VmRSS') // 1024} MiB")
finally:
    cleanup()
