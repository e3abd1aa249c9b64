#!/usr/bin/env python3
# A split made at run time through POST /_sim/etcd: time until the TUI etcd pane shows it (BENCHMARKS.md).
# Usage: scripts/bench-etcd-runtime-split.py [path/to/ktriage]   (needs tmux)
import subprocess, time, statistics, os, sys, tempfile, json, re, ssl, urllib.request
B=sys.argv[1] if len(sys.argv) > 1 else "target/debug/ktriage"
home=tempfile.mkdtemp()
T=["tmux","-L","sebench"]
subprocess.run(T+["new-session","-d","-s","keeper","sleep 600"],check=True)
ts=[]
for i in range(5):
    kc=f"{home}/k{i}.yaml"
    sim=subprocess.Popen([B,"sim","--scenario","healthy","--write-kubeconfig",kc],stdout=subprocess.PIPE,text=True)
    line=sim.stdout.readline()
    base=re.search(r"https://127\.0\.0\.1:\d+",line).group(0)
    token=[l.split()[1] for l in open(kc) if "token:" in l][0]
    name=f"sb2{i}"
    subprocess.run(T+["new-session","-d","-s",name,"-x","160","-y","48",f"env HOME={home} XDG_STATE_HOME={home}/s XDG_CONFIG_HOME={home}/c KTRIAGE_DISCOVERY_ROOT={home}/n {B} --kubeconfig {kc}"],check=True)
    subprocess.run(T+["send-keys","-t",name,"2"])
    # wait for the first round (three members listed)
    t0=time.monotonic()
    while time.monotonic()-t0<20:
        out=subprocess.run(T+["capture-pane","-p","-t",name],capture_output=True,text=True).stdout
        if out.count("prod-cp-")>=3: break
        time.sleep(0.05)
    # split at a random point of the 5 s poll cycle
    time.sleep((i*1.1)%5)
    ctx=ssl._create_unverified_context()
    req=urllib.request.Request(base+"/_sim/etcd",data=json.dumps({"member":"prod-cp-2","state":"island"}).encode(),headers={"Authorization":"Bearer "+token,"Content-Type":"application/json"})
    t=time.monotonic()
    urllib.request.urlopen(req,context=ctx).read()
    found=None
    while time.monotonic()-t<20:
        out=subprocess.run(T+["capture-pane","-p","-t",name],capture_output=True,text=True).stdout
        if "etcd split brain" in out: found=(time.monotonic()-t)*1000; break
        time.sleep(0.01)
    subprocess.run(T+["kill-session","-t",name])
    sim.terminate(); sim.wait()
    assert found, out
    ts.append(found)
subprocess.run(T+["kill-session","-t","keeper"])
print("runtime split -> TUI", ["%.0f"%x for x in ts], "min/median/max", "%.0f/%.0f/%.0f"%(min(ts),statistics.median(ts),max(ts)))
