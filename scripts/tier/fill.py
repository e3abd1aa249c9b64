#!/usr/bin/env python3
"""fill.py NODES NAMESPACES PODS KAS_DIR — fill the real kube-apiserver tier (scripts/real-apiserver.sh)
with NODES nodes, NAMESPACES namespaces (each with its default ServiceAccount: without a
controller-manager nobody makes it, and pod admission needs it) and PODS pods spread over them
(bound to the nodes, Pending: no kubelet). POSTs concurrently: kubectl's client-side rate limit
makes ~9 objects/s. Used by scripts/bench-peers.sh and scripts/bench-start-etcd.sh."""
import concurrent.futures, json, ssl, sys, urllib.request
n, ns, p = map(int, sys.argv[1:4]); kas = sys.argv[4]
server = next(l.split("server:")[1].strip() for l in open(f"{kas}/admin.kubeconfig") if "server:" in l)
ctx = ssl.create_default_context(cafile=f"{kas}/pki/ca.crt")
ctx.load_cert_chain(f"{kas}/pki/admin.crt", f"{kas}/pki/admin.key")
def post(path, obj):
    req = urllib.request.Request(server + path, data=json.dumps(obj).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        r.read()
def run(jobs):
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for f in [ex.submit(post, *j) for j in jobs]:
            f.result()
run([("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i:04d}"}})
     for i in range(ns)])
# no controller-manager: each namespace's default ServiceAccount is made by hand (pod admission needs it)
run([(f"/api/v1/namespaces/ns-{i:04d}/serviceaccounts",
      {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}) for i in range(ns)])
run([("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i:05d}"}})
     for i in range(n)])
run([(f"/api/v1/namespaces/ns-{i % ns:04d}/pods",
      {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i:06d}", "namespace": f"ns-{i % ns:04d}"},
       "spec": {"automountServiceAccountToken": False, "containers": [{"name": "c", "image": "busybox"}], "nodeName": f"node-{i % max(n, 1):05d}"}})
     for i in range(p)])
