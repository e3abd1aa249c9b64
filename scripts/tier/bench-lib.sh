# Shared by scripts/bench-peers.sh and scripts/bench-warroom.sh (sourced; needs ROOT and dir set).

# A real kube-apiserver in $dir/kas with an audit policy of one `level: Metadata` rule (every
# request in $dir/audit.log), filled with NODES nodes, NAMESPACES namespaces and PODS Pending pods;
# exports KUBECONFIG.
audited_cluster() { # NODES NAMESPACES PODS
  cat > "$dir/audit.yaml" <<'Y'
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
Y
  KAS_EXTRA_ARGS="--audit-policy-file=$dir/audit.yaml --audit-log-path=$dir/audit.log" \
    "$ROOT/scripts/real-apiserver.sh" start "$dir/kas" > "$dir/env.out"
  export KUBECONFIG=$dir/kas/admin.kubeconfig
  # kubectl creates ~9 objects/s (client-side rate limit): post them concurrently instead
  python3 "$ROOT/scripts/tier/fill.py" "$1" "$2" "$3" "$dir/kas"
  echo "filled: $(kubectl get nodes --no-headers | wc -l) nodes, $(kubectl get pods -A --no-headers | wc -l) pods" >&2
}

# bytes received on the open TCP sockets of the given PIDs (TLS included); a socket closed inside
# a window is not counted, which can only understate
rx() {
  local t=0 p
  for p in "$@"; do
    t=$((t + $(ss -tinpH | awk -v p="pid=$p," '/^[^ \t]/ {m = index($0, p) > 0; next}
      m && match($0, /bytes_received:[0-9]+/) {t += substr($0, RSTART + 15, RLENGTH - 15)} END {print t + 0}')))
  done
  echo "$t"
}

# CPU seconds (user + system) of a PID
cpu() { awk -v hz="$(getconf CLK_TCK)" '{split($0, a, ") "); split(a[2], f, " "); print (f[12] + f[13]) / hz}' "/proc/$1/stat"; }
