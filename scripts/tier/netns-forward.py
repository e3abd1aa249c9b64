#!/usr/bin/env python3
"""netns-forward.py DIR COUNT — the network namespace of the real test tier, and its only door.

1. Binds COUNT TCP listeners on 127.0.0.1 (free ports) in the caller's network namespace.
2. Moves itself into a new network namespace (as root: unshare -n; otherwise a new user namespace
   too, mapping the caller to root inside), in which `lo` is brought up and is the only interface.
3. Writes the ports, space-separated, to DIR/netns.ports (the script reads them and starts every
   server of the tier inside the namespace, on the same port numbers, with
   `nsenter --target <this pid> --net`).
4. Forwards each listener's connections to 127.0.0.1 on the same port inside the namespace,
   until it is sent SIGTERM.

So clients on the machine reach the tier's API server and etcd on 127.0.0.1, while nothing in the
tier can send a packet anywhere but its own loopback: a connect to any other address fails at once
with "network is unreachable" (the namespace has no other interface and no route).
"""

import ctypes
import fcntl
import os
import socket
import struct
import sys
import threading

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def die(msg):
    sys.stderr.write(f"netns-forward: {msg}\n")
    sys.exit(1)


def new_namespace():
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWNET | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        die(f"unshare failed: {os.strerror(err)} (needs root, or unprivileged user namespaces)")
    if uid != 0:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifr = struct.pack("16sH22x", b"lo", 0)
    cur = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", cur | IFF_UP))
    s.close()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            sock.shutdown(how)
        except OSError:
            pass


def serve(conn, port):
    try:
        inner = socket.create_connection(("127.0.0.1", port))
    except OSError:
        # nothing listens inside: reset, the nearest a forwarder gets to "connection refused"
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        return
    for s in (conn, inner):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=pump, args=(inner, conn), daemon=True)
    back.start()
    pump(conn, inner)
    back.join()
    conn.close()
    inner.close()


def accept_loop(listener, port):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, port), daemon=True).start()


def main():
    if len(sys.argv) != 3:
        die("usage: netns-forward.py DIR COUNT")
    d, count = sys.argv[1], int(sys.argv[2])
    listeners = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(128)
        listeners.append(s)
    new_namespace()  # before any thread: namespaces are per thread, threads inherit
    ports = [s.getsockname()[1] for s in listeners]
    tmp = os.path.join(d, "netns.ports.tmp")
    with open(tmp, "w") as f:
        f.write(" ".join(map(str, ports)) + "\n")
    os.rename(tmp, os.path.join(d, "netns.ports"))
    threads = [
        threading.Thread(target=accept_loop, args=(s, p), daemon=True)
        for s, p in zip(listeners, ports)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
