#!/usr/bin/env bash
# real-apiserver.sh — a REAL kube-apiserver (v1.20.2, built from Debian's `kubernetes` source package)
# against a real etcd, with generated PKI, for ktriage's tests; optionally a real control plane beside
# it: kube-controller-manager, kube-scheduler and kubemark hollow nodes (real kubelets with a fake
# container runtime), all built from the same source tree.
#
#   scripts/real-apiserver.sh build          build (or reuse) the four binaries; prints kube-apiserver's path
#   scripts/real-apiserver.sh path [--control-plane]
#                                            print kube-apiserver's path if built (with --control-plane:
#                                            the directory, if all four are built); exit 1 otherwise
#   scripts/real-apiserver.sh start DIR [--etcd-members N] [--audit]
#                                       [--control-plane [--nodes N] [--node NAME]... [--cp-node NAME]...]
#                                            start etcd (N members, default 1) and kube-apiserver; writes
#                                            DIR/admin.kubeconfig (system:masters), DIR/jane.kubeconfig (no
#                                            RBAC rights), DIR/ktriage.kubeconfig (system:masters, its own
#                                            user name, for request audits), DIR/env; --audit: every request
#                                            in DIR/audit.log (audit level Metadata). --control-plane also
#                                            starts kube-controller-manager and kube-scheduler (leader
#                                            election on) and hollow nodes: --nodes N workers named
#                                            worker-1..N, --node NAME a worker, --cp-node NAME a node
#                                            labelled control-plane/etcd/master and tainted NoSchedule; waits
#                                            until leaders hold both Leases and every node is Ready.
#                                            Prints "KUBECONFIG=DIR/admin.kubeconfig" last
#   scripts/real-apiserver.sh stop-one DIR NAME
#                                            stop one process by its recorded PID: kube-controller-manager,
#                                            kube-scheduler or a node's name (DIR/NAME.pid)
#   scripts/real-apiserver.sh start-one DIR NAME
#                                            start it again with the same command line
#   scripts/real-apiserver.sh exec DIR CMD [ARG]...
#                                            run CMD inside the tier's network namespace
#   scripts/real-apiserver.sh split DIR I    split etcd member I off as a new 1-member cluster on the same
#                                            ports (an "island": its own cluster ID, healthy, writable)
#   scripts/real-apiserver.sh stop DIR       stop everything started in DIR, by recorded PID
#
# Network: every server of the tier runs in a network namespace of its own whose only interface is
# `lo` (scripts/tier/netns-forward.py makes it and forwards the API server's and etcd's ports from the
# machine's 127.0.0.1 into it). A connect to any other address fails there with "network is
# unreachable", so nothing in the tier sends a packet off loopback: not the API server dialling a
# webhook, an APIService or a node (hollow nodes report 127.0.0.1, a patch in the build), not a
# kubelet probing a pod. The API server resolves webhook and APIService backends to their endpoints
# (--enable-aggregator-routing), never to a Service IP.
#
# The build cache lives outside the repo: $KTRIAGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/ktriage).
# Cold build of all four ≈ 12 min on 2 cores (BENCHMARKS.md) and ≈ 3 GB of disk while building (only
# the binaries are kept); binaries already in the cache are not rebuilt.
set -euo pipefail

VERSION=v1.20.2
CACHE=${KTRIAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ktriage}
BIN_DIR=$CACHE/kube-apiserver-$VERSION
BIN=$BIN_DIR/kube-apiserver
KCM=$BIN_DIR/kube-controller-manager
SCHED=$BIN_DIR/kube-scheduler
KUBEMARK=$BIN_DIR/kubemark
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATCH=$HERE/tier/hollow-node-loopback.patch
FORWARD=$HERE/tier/netns-forward.py
SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo

die() { echo "real-apiserver: $*" >&2; exit 1; }

apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  echo "real-apiserver: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------- build

patch_sum() { sha256sum "$PATCH" | cut -d' ' -f1; }
kubemark_current() { [[ -x $KUBEMARK && $(cat "$KUBEMARK.patch-sha256" 2>/dev/null) == "$(patch_sum)" ]]; }

# the binaries still to build (kubemark also when its patch changed)
missing_bins() {
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x $BIN_DIR/$b ]] || echo "$b"
  done
  kubemark_current || echo kubemark
}

cmd_build() {
  local need
  need=$(missing_bins)
  if [[ -z $need ]]; then echo "$BIN"; return 0; fi
  mkdir -p "$CACHE"
  exec 9> "$CACHE/build.lock"
  flock 9 # one build at a time per cache; the next one finds what this one built
  need=$(missing_bins)
  if [[ -z $need ]]; then echo "$BIN"; return 0; fi
  apt_install golang-go rsync jq golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev dpkg-dev patch
  # source packages for the mirror apt already uses
  if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    [[ -f /etc/apt/sources.list.d/debian.sources ]] || die "no /etc/apt/sources.list.d/debian.sources to derive deb-src from"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
    $SUDO apt-get update -qq
  fi
  local work=$CACHE/work-$VERSION
  rm -rf "$work"; mkdir -p "$work/src"
  (cd "$work/src" && apt-get source --download-only kubernetes >/dev/null 2>&1) || die "apt-get source kubernetes failed"
  local orig
  orig=$(ls "$work"/src/kubernetes_*.orig.tar.gz | head -1) || die "source tarball not downloaded"
  tar xzf "$orig" -C "$work/src"
  local tree
  tree=$(ls -d "$work"/src/kubernetes-1.20.*/ | head -1)
  # the vendored reflect2 1.0.1 segfaults on Go >= 1.18: use Debian's 1.0.2 and json-iterator 1.1.12
  (cd "$tree/vendor/github.com" &&
    rm -rf modern-go/reflect2 json-iterator/go &&
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 modern-go/reflect2 &&
    cp -r /usr/share/gocode/src/github.com/json-iterator/go json-iterator/go)
  # hollow nodes: node address 127.0.0.1, kubelet bound to loopback, a runtime socket per node
  patch -d "$tree" -p1 --quiet < "$PATCH" || die "the hollow-node patch does not apply"
  local what="" b
  for b in $need; do what+="${what:+ }cmd/$b"; done
  echo "real-apiserver: building" $need "(log: $work/build.log)" >&2
  local t0=$SECONDS
  (cd "$tree" &&
    GOPROXY=off GOFLAGS= CGO_ENABLED=0 HOME=$work/home GOCACHE=$work/gocache \
    KUBE_GIT_VERSION=$VERSION KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
    KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56 \
    make WHAT="$what" >"$work/build.log" 2>&1) || { tail -30 "$work/build.log"; die "build failed (log: $work/build.log)"; }
  mkdir -p "$BIN_DIR"
  for b in $need; do
    cp "$tree/_output/local/go/bin/$b" "$BIN_DIR/.$b.new"
    mv "$BIN_DIR/.$b.new" "$BIN_DIR/$b"
  done
  if [[ $need == *kubemark* ]]; then patch_sum > "$KUBEMARK.patch-sha256"; fi
  echo "built" $need "$VERSION in $((SECONDS - t0)) s" >&2
  rm -rf "$work"
  echo "$BIN"
}

cmd_path() {
  if [[ ${1:-} == --control-plane ]]; then
    [[ -x $BIN && -z $(missing_bins) ]] && echo "$BIN_DIR" && return 0
    return 1
  fi
  [[ -x $BIN ]] && echo "$BIN"
}

# ------------------------------------------------------------------------------------------- start

pki() {
  local p=$1/pki
  mkdir -p "$p"
  (
    cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ktriage-test-ca" -keyout ca.key -out ca.crt 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' > srv.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > cli.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile srv.ext -out apiserver.crt 2>/dev/null
    local u subj
    for u in admin jane ktriage; do
      case $u in
        admin) subj="/O=system:masters/CN=kubernetes-admin" ;;
        jane) subj="/O=viewers/CN=jane" ;;
        ktriage) subj="/O=system:masters/CN=ktriage-under-test" ;;
      esac
      openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$u.key" -out "$u.csr" 2>/dev/null
      openssl x509 -req -in "$u.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile cli.ext -out "$u.crt" 2>/dev/null
    done
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 600 ./*.key
  )
}

kubeconfig() { # DIR PORT USER
  local d=$1 port=$2 u=$3
  cat > "$d/$u.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: real
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $d/pki/ca.crt
users:
- name: $u
  user:
    client-certificate: $d/pki/$u.crt
    client-key: $d/pki/$u.key
contexts:
- name: $u@real
  context: {cluster: real, user: $u}
current-context: $u@real
KC
  chmod 600 "$d/$u.kubeconfig"
}

# the command prefix that enters the tier's network namespace (and, when not root, its user namespace)
in_ns() { # DIR
  local pid
  pid=$(cat "$1/netns.pid")
  if [[ $(id -u) == 0 ]]; then
    echo "nsenter --target $pid --net --"
  else
    echo "nsenter --target $pid --user --net --preserve-credentials --"
  fi
}

# start the network namespace and its forwarder; answers the forwarded ports
start_netns() { # DIR COUNT
  local d=$1 n=$2 t
  command -v nsenter >/dev/null || die "nsenter not found (util-linux)"
  setsid python3 "$FORWARD" "$d" "$n" > "$d/netns.log" 2>&1 < /dev/null &
  echo $! > "$d/netns.pid"
  for ((t = 0; t < 100; t++)); do
    [[ -s $d/netns.ports ]] && return 0
    kill -0 "$(cat "$d/netns.pid")" 2>/dev/null || { cat "$d/netns.log" >&2; die "could not make the network namespace"; }
    sleep 0.05
  done
  die "network namespace not ready after 5 s"
}

# launch DIR/NAME.args (one argument a line) inside the namespace; PID in DIR/NAME.pid
launch() { # DIR NAME
  local d=$1 name=$2 args
  mapfile -t args < "$d/$name.args"
  mkdir -p "$d/$name.tmp"
  # shellcheck disable=SC2046
  TMPDIR=$d/$name.tmp setsid $(in_ns "$d") "${args[@]}" >> "$d/$name.log" 2>&1 < /dev/null &
  echo $! > "$d/$name.pid"
}

write_args() { # DIR NAME ARG...
  local d=$1 name=$2; shift 2
  printf '%s\n' "$@" > "$d/$name.args"
}

api_get() { # DIR PATH
  local d=$1
  curl -sf --max-time 5 --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" --key "$d/pki/admin.key" \
    "$(sed -n 's/^APISERVER=//p' "$d/env")$2"
}

AUDIT_POLICY='apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata'

cmd_start() {
  local dir=${1:?usage: start DIR [options]}; shift
  local members=1 cp=0 audit=0 workers=() cps=() i n
  while [[ $# -gt 0 ]]; do
    case $1 in
      --etcd-members) members=$2; shift 2 ;;
      --audit) audit=1; shift ;;
      --control-plane) cp=1; shift ;;
      --nodes) for ((i = 1; i <= $2; i++)); do workers+=("worker-$i"); done; shift 2 ;;
      --node) workers+=("$2"); shift 2 ;;
      --cp-node) cps+=("$2"); shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  if ((cp == 0 && ${#workers[@]} + ${#cps[@]} > 0)); then die "nodes need --control-plane"; fi
  [[ -x $BIN ]] || die "kube-apiserver not built: run scripts/real-apiserver.sh build"
  if ((cp)) && [[ -n $(missing_bins) ]]; then
    die "the control plane is not built ($(missing_bins | tr '\n' ' ')): run scripts/real-apiserver.sh build"
  fi
  command -v etcd >/dev/null || die "etcd not found (apt-get install etcd-server etcd-client)"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [[ -e $dir/env ]] && die "$dir already holds a server (stop it first)"
  pki "$dir"
  local ports
  start_netns "$dir" $((1 + 2 * members))
  read -ra ports < "$dir/netns.ports"
  local port=${ports[0]} ns
  ns=$(in_ns "$dir")
  # etcd members
  local ic="" eps="" cports=() pports=()
  for ((i = 1; i <= members; i++)); do
    cports[i]=${ports[2 * i - 1]}; pports[i]=${ports[2 * i]}
    ic+="${ic:+,}m$i=http://127.0.0.1:${pports[i]}"
    eps+="${eps:+,}http://127.0.0.1:${cports[i]}"
  done
  for ((i = 1; i <= members; i++)); do
    mkdir -p "$dir/etcd$i"
    echo "${cports[i]} ${pports[i]}" > "$dir/etcd$i/ports"
    # shellcheck disable=SC2086
    setsid $ns etcd --name "m$i" --data-dir "$dir/etcd$i/data" \
      --listen-client-urls "http://127.0.0.1:${cports[i]}" --advertise-client-urls "http://127.0.0.1:${cports[i]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}" \
      --initial-cluster "$ic" --initial-cluster-token "ktriage-real-$$" --initial-cluster-state new \
      --logger zap --log-outputs stderr > "$dir/etcd$i/etcd.log" 2>&1 < /dev/null &
    echo $! > "$dir/etcd$i/pid"
  done
  local u
  for u in admin jane ktriage; do kubeconfig "$dir" "$port" "$u"; done
  local audit_args=()
  if ((audit)); then
    echo "$AUDIT_POLICY" > "$dir/audit-policy.yaml"
    audit_args=(--audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log")
  fi
  local t0=$SECONDS
  # shellcheck disable=SC2086
  setsid $ns "$BIN" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" --insecure-port=0 \
    --etcd-servers="$eps" \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" \
    --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.43.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none --enable-aggregator-routing=true --profiling=false --logtostderr=true --v=1 \
    "${audit_args[@]}" ${KAS_EXTRA_ARGS:-} > "$dir/kube-apiserver.log" 2>&1 < /dev/null &
  echo $! > "$dir/kube-apiserver.pid"
  cat > "$dir/env" <<ENV
KUBECONFIG=$dir/admin.kubeconfig
JANE_KUBECONFIG=$dir/jane.kubeconfig
KTRIAGE_KUBECONFIG=$dir/ktriage.kubeconfig
APISERVER=https://127.0.0.1:$port
ETCD_ENDPOINTS=$eps
NETNS_PID=$(cat "$dir/netns.pid")
ENV
  for ((i = 0; i < 600; i++)); do
    if api_get "$dir" /readyz >/dev/null 2>&1; then
      echo "kube-apiserver ready after $((SECONDS - t0)) s on https://127.0.0.1:$port" >&2
      if ((cp)); then start_control_plane "$dir" "${#workers[@]}" "${workers[@]}" "${cps[@]}"; fi
      echo "KUBECONFIG=$dir/admin.kubeconfig"
      return 0
    fi
    kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null || { tail -20 "$dir/kube-apiserver.log" >&2; cmd_stop "$dir"; die "kube-apiserver exited"; }
    sleep 0.1
  done
  cmd_stop "$dir"
  die "kube-apiserver not ready after 60 s; see $dir/kube-apiserver.log"
}

# kube-controller-manager, kube-scheduler and the hollow nodes; waits until they work
start_control_plane() { # DIR NWORKERS WORKER... CPNODE...
  local dir=$1 nw=$2; shift 2
  local kc=$dir/admin.kubeconfig t0=$SECONDS i=0 name
  write_args "$dir" kube-controller-manager "$KCM" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port=10257 --port=0 \
    --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
    --cluster-signing-cert-file="$dir/pki/ca.crt" --cluster-signing-key-file="$dir/pki/ca.key" \
    --use-service-account-credentials=false --leader-elect=true \
    --controllers='*,bootstrapsigner,tokencleaner' --profiling=false --v=1
  write_args "$dir" kube-scheduler "$SCHED" --kubeconfig="$kc" \
    --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --bind-address=127.0.0.1 --secure-port=10259 --port=0 --leader-elect=true --profiling=false --v=1
  launch "$dir" kube-controller-manager
  launch "$dir" kube-scheduler
  local nodes=()
  for name in "$@"; do
    i=$((i + 1))
    local labels=node-role.kubernetes.io/worker=true taints=()
    if ((i > nw)); then
      labels=node-role.kubernetes.io/control-plane=true,node-role.kubernetes.io/etcd=true,node-role.kubernetes.io/master=true
      taints=(--register-with-taints=node-role.kubernetes.io/control-plane=true:NoSchedule)
    fi
    # every kubelet on its own loopback ports inside the namespace
    write_args "$dir" "$name" "$KUBEMARK" --morph=kubelet --name="$name" --kubeconfig="$kc" \
      --kubelet-port=$((11000 + 2 * i)) --kubelet-read-only-port=$((11001 + 2 * i)) \
      --node-labels="$labels" "${taints[@]}" --v=1
    launch "$dir" "$name"
    nodes+=("$name")
  done
  echo "NODES=${nodes[*]}" >> "$dir/env"
  local t
  for ((t = 0; t < 240; t++)); do
    if control_plane_ready "$dir" "${nodes[@]}"; then
      echo "control plane ready after $((SECONDS - t0)) s (${#nodes[@]} nodes)" >&2
      return 0
    fi
    for name in kube-controller-manager kube-scheduler "${nodes[@]}"; do
      kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || { tail -20 "$dir/$name.log" >&2; cmd_stop "$dir"; die "$name exited"; }
    done
    sleep 0.5
  done
  cmd_stop "$dir"
  die "control plane not ready after 120 s; see $dir/*.log"
}

# both leaders elected, every node Ready, kube-root-ca.crt and the default ServiceAccount published
control_plane_ready() { # DIR NODE...
  local d=$1 l; shift
  for l in kube-scheduler kube-controller-manager; do
    api_get "$d" "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/$l" \
      | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["spec"].get("holderIdentity") else 1)' \
      2>/dev/null || return 1
  done
  api_get "$d" /api/v1/namespaces/default/configmaps/kube-root-ca.crt >/dev/null || return 1
  api_get "$d" /api/v1/namespaces/default/serviceaccounts/default >/dev/null || return 1
  (($# == 0)) && return 0
  api_get "$d" /api/v1/nodes | python3 -c '
import json, sys
want = set(sys.argv[1:])
ready = {n["metadata"]["name"] for n in json.load(sys.stdin)["items"]
         if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
sys.exit(0 if want <= ready else 1)' "$@" 2>/dev/null
}

# ------------------------------------------------------------------------------------ stop and more

stop_pid() { # PIDFILE MARKER
  local pf=$1 marker=$2 pid t
  [[ -f $pf ]] || return 0
  pid=$(cat "$pf")
  ours() { tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "$marker"; }
  if ours; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((t = 0; t < 100; t++)); do ours || break; sleep 0.1; done
    if ours; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pf"
}

# the marker that names NAME's process in /proc/PID/cmdline: its whole command line
args_marker() { tr '\n' ' ' < "$1/$2.args"; }

cmd_stop_one() {
  local dir=${1:?usage: stop-one DIR NAME} name=${2:?usage: stop-one DIR NAME}
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/$name.args ]] || die "no $name in $dir"
  stop_pid "$dir/$name.pid" "$(args_marker "$dir" "$name")"
  echo "stopped $name" >&2
}

cmd_start_one() {
  local dir=${1:?usage: start-one DIR NAME} name=${2:?usage: start-one DIR NAME}
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/$name.args ]] || die "no $name in $dir"
  [[ -f $dir/$name.pid ]] && die "$name is running (pid $(cat "$dir/$name.pid"))"
  launch "$dir" "$name"
  echo "started $name (pid $(cat "$dir/$name.pid"))" >&2
}

cmd_exec() {
  local dir=${1:?usage: exec DIR CMD [ARG]...}; shift
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/netns.pid ]] || die "no network namespace in $dir"
  # shellcheck disable=SC2046
  exec $(in_ns "$dir") "$@"
}

cmd_stop() {
  local dir=${1:?usage: stop DIR}
  dir=$(cd "$dir" && pwd)
  local f name
  for f in "$dir"/*.args; do
    [[ -f $f ]] || continue
    name=$(basename "$f" .args)
    stop_pid "$dir/$name.pid" "$(args_marker "$dir" "$name")"
  done
  stop_pid "$dir/kube-apiserver.pid" "--tls-cert-file=$dir/pki/apiserver.crt"
  local d
  for d in "$dir"/etcd*/; do
    [[ -d $d ]] && stop_pid "$d/pid" "--data-dir ${d%/}/data"
  done
  stop_pid "$dir/netns.pid" "$FORWARD $dir"
  rm -f "$dir/env" "$dir/netns.ports"
  echo "stopped the servers of $dir" >&2
}

cmd_split() {
  local dir=${1:?usage: split DIR I} i=${2:?usage: split DIR I}
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/etcd$i/ports ]] || die "no etcd member $i in $dir"
  local cport pport ns
  read -r cport pport < "$dir/etcd$i/ports"
  ns=$(in_ns "$dir")
  stop_pid "$dir/etcd$i/pid" "--data-dir $dir/etcd$i/data"
  mv "$dir/etcd$i/data" "$dir/etcd$i/data.before-split"
  # shellcheck disable=SC2086
  setsid $ns etcd --name "m$i" --data-dir "$dir/etcd$i/data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "m$i=http://127.0.0.1:$pport" --initial-cluster-token "ktriage-island-$$" \
    --initial-cluster-state new --logger zap --log-outputs stderr >> "$dir/etcd$i/etcd.log" 2>&1 < /dev/null &
  echo $! > "$dir/etcd$i/pid"
  local t
  for ((t = 0; t < 100; t++)); do
    if curl -sf -X POST "http://127.0.0.1:$cport/v3/kv/range" -d '{"key":"aGVhbHRo"}' >/dev/null 2>&1; then
      echo "etcd member $i is an island on http://127.0.0.1:$cport" >&2
      return 0
    fi
    sleep 0.1
  done
  die "island member $i did not become healthy"
}

case ${1:-} in
  build) cmd_build ;;
  path) shift; cmd_path "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  stop-one) shift; cmd_stop_one "$@" ;;
  start-one) shift; cmd_start_one "$@" ;;
  exec) shift; cmd_exec "$@" ;;
  split) shift; cmd_split "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
