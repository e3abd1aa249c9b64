#!/usr/bin/env python3
# Time to show the etcd split brain on the demo cluster: report --demo and the TUI (BENCHMARKS.md).
# Usage: scripts/bench-etcd-demo.py [path/to/ktriage]   (needs tmux)
import subprocess, time, statistics, os, sys, tempfile, json
B=sys.argv[1] if len(sys.argv) > 1 else "target/debug/ktriage"
home=tempfile.mkdtemp()
env=dict(os.environ, HOME=home, XDG_STATE_HOME=home+"/s", XDG_CONFIG_HOME=home+"/c", KTRIAGE_DISCOVERY_ROOT=home+"/n")
env.pop("KUBECONFIG",None)
def report(scn, n=20):
    ts=[]
    for _ in range(n):
        t=time.monotonic()
        r=subprocess.run([B,"report","--format","json","--observe","0","--demo",scn],env=env,capture_output=True)
        ts.append((time.monotonic()-t)*1000)
        d=json.loads(r.stdout)
        ok=[f for f in d["findings"] if f["id"]=="etcd-split-brain"]
        assert r.returncode==1 and len(ok)==1, (r.returncode, d["findings"])
    ts.sort(); return ts[0], statistics.median(ts), ts[-1]
def tui(scn, n=10):
    ts=[]
    for i in range(n):
        name=f"sebench{i}"
        t=time.monotonic()
        subprocess.run(["tmux","-L","sebench","new-session","-d","-s",name,"-x","160","-y","48",f"env HOME={home} XDG_STATE_HOME={home}/s XDG_CONFIG_HOME={home}/c KTRIAGE_DISCOVERY_ROOT={home}/n {B} --demo {scn}"],check=True)
        subprocess.run(["tmux","-L","sebench","send-keys","-t",name,"2"])
        found=None
        while time.monotonic()-t<20:
            out=subprocess.run(["tmux","-L","sebench","capture-pane","-p","-t",name],capture_output=True,text=True).stdout
            if "etcd split brain" in out:
                found=(time.monotonic()-t)*1000; break
            time.sleep(0.01)
        subprocess.run(["tmux","-L","sebench","kill-session","-t",name])
        assert found, out
        ts.append(found)
    ts.sort(); return ts[0], statistics.median(ts), ts[-1]
subprocess.run(["tmux","-L","sebench","new-session","-d","-s","keeper","sleep 600"],check=True)
print("report etcd-split-brain", ["%.1f"%x for x in report("etcd-split-brain")])
print("report incident", ["%.1f"%x for x in report("incident",10)])
print("tui etcd-split-brain", ["%.0f"%x for x in tui("etcd-split-brain")])
subprocess.run(["tmux","-L","sebench","kill-session","-t","keeper"])
