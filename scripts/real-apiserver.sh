#!/usr/bin/env bash
# real-apiserver.sh — a REAL kube-apiserver (v1.20.2, built from Debian's `kubernetes` source package)
# on 127.0.0.1 against a real etcd, with generated PKI, for ktriage's conformance tests. No kubelet, no
# controllers (like controller-runtime's envtest).
#
#   scripts/real-apiserver.sh build          build (or reuse) the binary; prints its path last
#   scripts/real-apiserver.sh path           print the binary's path if built (exit 1 otherwise)
#   scripts/real-apiserver.sh start DIR [--etcd-members N]
#                                            start etcd (N members, default 1) and kube-apiserver on free
#                                            loopback ports; writes DIR/admin.kubeconfig (system:masters),
#                                            DIR/jane.kubeconfig (no RBAC rights), DIR/env; prints
#                                            "KUBECONFIG=DIR/admin.kubeconfig" last
#   scripts/real-apiserver.sh split DIR I    split etcd member I off as a new 1-member cluster on the same
#                                            ports (an "island": its own cluster ID, healthy, writable)
#   scripts/real-apiserver.sh stop DIR       stop everything started in DIR, by recorded PID
#
# The build cache lives outside the repo: $KTRIAGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/ktriage).
# Cold build ≈ 3–5 min on 2 cores and ≈ 2 GB of disk while building (only the 110 MB binary is kept).
set -euo pipefail

VERSION=v1.20.2
CACHE=${KTRIAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ktriage}
BIN=$CACHE/kube-apiserver-$VERSION/kube-apiserver
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

cmd_build() {
  if [[ -x $BIN ]]; then echo "$BIN"; return 0; fi
  apt_install golang-go rsync jq golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev dpkg-dev
  # source packages for the mirror apt already uses
  if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
    [[ -f /etc/apt/sources.list.d/debian.sources ]] || die "no /etc/apt/sources.list.d/debian.sources to derive deb-src from"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee /etc/apt/sources.list.d/debian-src.sources >/dev/null
    $SUDO apt-get update -qq
  fi
  local work=$CACHE/build-$VERSION
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
  local t0=$SECONDS
  (cd "$tree" &&
    GOPROXY=off GOFLAGS= CGO_ENABLED=0 HOME=$work/home GOCACHE=$work/gocache \
    KUBE_GIT_VERSION=$VERSION KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 KUBE_GIT_TREE_STATE=clean \
    KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56 \
    make WHAT=cmd/kube-apiserver >"$work/build.log" 2>&1) || { tail -30 "$work/build.log"; die "build failed (log: $work/build.log)"; }
  mkdir -p "$(dirname "$BIN")"
  cp "$tree/_output/local/go/bin/kube-apiserver" "$BIN"
  echo "built kube-apiserver $VERSION in $((SECONDS - t0)) s" >&2
  rm -rf "$work"
  echo "$BIN"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

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
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kubernetes-admin" -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile cli.ext -out admin.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=viewers/CN=jane" -keyout jane.key -out jane.csr 2>/dev/null
    openssl x509 -req -in jane.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile cli.ext -out jane.crt 2>/dev/null
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

cmd_start() {
  local dir=${1:?usage: start DIR [--etcd-members N]}; shift
  local members=1
  while [[ $# -gt 0 ]]; do
    case $1 in --etcd-members) members=$2; shift 2 ;; *) die "unknown option $1" ;; esac
  done
  [[ -x $BIN ]] || die "kube-apiserver not built: run scripts/real-apiserver.sh build"
  command -v etcd >/dev/null || die "etcd not found (apt-get install etcd-server etcd-client)"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [[ -e $dir/env ]] && die "$dir already holds a server (stop it first)"
  pki "$dir"
  # etcd members
  local i ic="" eps="" cports=() pports=()
  for ((i = 1; i <= members; i++)); do
    cports[i]=$(free_port); pports[i]=$(free_port)
    ic+="${ic:+,}m$i=http://127.0.0.1:${pports[i]}"
    eps+="${eps:+,}http://127.0.0.1:${cports[i]}"
  done
  for ((i = 1; i <= members; i++)); do
    mkdir -p "$dir/etcd$i"
    echo "${cports[i]} ${pports[i]}" > "$dir/etcd$i/ports"
    setsid etcd --name "m$i" --data-dir "$dir/etcd$i/data" \
      --listen-client-urls "http://127.0.0.1:${cports[i]}" --advertise-client-urls "http://127.0.0.1:${cports[i]}" \
      --listen-peer-urls "http://127.0.0.1:${pports[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pports[i]}" \
      --initial-cluster "$ic" --initial-cluster-token "ktriage-real-$$" --initial-cluster-state new \
      --logger zap --log-outputs stderr > "$dir/etcd$i/etcd.log" 2>&1 < /dev/null &
    echo $! > "$dir/etcd$i/pid"
  done
  local port; port=$(free_port)
  kubeconfig "$dir" "$port" admin
  kubeconfig "$dir" "$port" jane
  local t0=$SECONDS
  setsid "$BIN" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$port" --insecure-port=0 \
    --etcd-servers="$eps" \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" \
    --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.43.0.0/16 --authorization-mode=Node,RBAC --allow-privileged=true \
    --endpoint-reconciler-type=none --profiling=false --logtostderr=true --v=1 \
    ${KAS_EXTRA_ARGS:-} > "$dir/kube-apiserver.log" 2>&1 < /dev/null &
  echo $! > "$dir/kube-apiserver.pid"
  cat > "$dir/env" <<ENV
KUBECONFIG=$dir/admin.kubeconfig
JANE_KUBECONFIG=$dir/jane.kubeconfig
APISERVER=https://127.0.0.1:$port
ETCD_ENDPOINTS=$eps
ENV
  for ((i = 0; i < 600; i++)); do
    if curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
        "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      echo "kube-apiserver ready after $((SECONDS - t0)) s on https://127.0.0.1:$port" >&2
      echo "KUBECONFIG=$dir/admin.kubeconfig"
      return 0
    fi
    kill -0 "$(cat "$dir/kube-apiserver.pid")" 2>/dev/null || { tail -20 "$dir/kube-apiserver.log" >&2; cmd_stop "$dir"; die "kube-apiserver exited"; }
    sleep 0.1
  done
  cmd_stop "$dir"
  die "kube-apiserver not ready after 60 s; see $dir/kube-apiserver.log"
}

stop_pid() { # PIDFILE MARKER
  local pf=$1 marker=$2 pid t
  [[ -f $pf ]] || return 0
  pid=$(cat "$pf")
  ours() { tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -- "$marker"; }
  if ours; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((t = 0; t < 100; t++)); do ours || break; sleep 0.1; done
    if ours; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pf"
}

cmd_stop() {
  local dir=${1:?usage: stop DIR}
  dir=$(cd "$dir" && pwd)
  stop_pid "$dir/kube-apiserver.pid" "--tls-cert-file=$dir/pki/apiserver.crt"
  local d
  for d in "$dir"/etcd*/; do
    [[ -d $d ]] && stop_pid "$d/pid" "--data-dir ${d%/}/data"
  done
  rm -f "$dir/env"
  echo "stopped the servers of $dir" >&2
}

cmd_split() {
  local dir=${1:?usage: split DIR I} i=${2:?usage: split DIR I}
  dir=$(cd "$dir" && pwd)
  [[ -f $dir/etcd$i/ports ]] || die "no etcd member $i in $dir"
  local cport pport
  read -r cport pport < "$dir/etcd$i/ports"
  stop_pid "$dir/etcd$i/pid" "--data-dir $dir/etcd$i/data"
  mv "$dir/etcd$i/data" "$dir/etcd$i/data.before-split"
  setsid etcd --name "m$i" --data-dir "$dir/etcd$i/data" \
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
  path) [[ -x $BIN ]] && echo "$BIN" || exit 1 ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  split) shift; cmd_split "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2 ;;
esac
