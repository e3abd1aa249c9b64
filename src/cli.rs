//! Command line: the TUI by default, `report` for a one-shot run without a terminal.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "ktriage",
    version,
    about = "A terminal console for live Kubernetes incident triage",
    long_about = "A terminal console for live Kubernetes incident triage: etcd, leader election, events and \
evictions, pod top, stuck namespaces and admission webhooks on one screen, with confirmed, journaled fixes.\n\n\
Cluster access works like kubectl: --kubeconfig, else KUBECONFIG (several files merged), else \
~/.kube/config, else the in-cluster service account; --context picks a context.",
    after_help = "Exit codes: 0 ok (report: no critical finding); 1 report found a critical finding; \
2 could not run (bad arguments, unreadable kubeconfig or config file, unknown context, neither Kubernetes \
nor etcd configured)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Run against the built-in simulated cluster, started in-process on a free loopback port
    /// (scenario: a built-in name, a scenario file, or scale:NODES:PODS[:EVENTS[:NAMESPACES]];
    /// default: incident)
    #[arg(
        long,
        global = true,
        value_name = "SCENARIO",
        num_args = 0..=1,
        default_missing_value = "incident",
        conflicts_with_all = ["kubeconfig", "context"]
    )]
    pub demo: Option<String>,

    /// Kubeconfig context to use (default: its current-context)
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Scope namespaced panes to one namespace (default: all namespaces)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// ktriage config file (default: $XDG_CONFIG_HOME/ktriage/config.toml if it exists)
    #[arg(long, global = true, value_name = "FILE", env = "KTRIAGE_CONFIG")]
    pub config: Option<PathBuf>,

    /// Read-only mode for auditors: no request that changes the cluster is ever sent
    #[arg(long, global = true)]
    pub read_only: bool,

    /// Log file (default: $XDG_STATE_HOME/ktriage/ktriage.log); the level comes from KTRIAGE_LOG
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Action journal, JSON lines (default: $XDG_STATE_HOME/ktriage/journal.jsonl)
    #[arg(long, global = true, value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// etcd client URLs, comma-separated (default: ETCDCTL_ENDPOINTS, the context's [contexts.NAME.etcd]
    /// in the config file, the kubeconfig context extension `ktriage/etcd`, then discovery on a
    /// control-plane node)
    #[arg(long, global = true, value_name = "URL[,URL...]")]
    pub etcd_endpoints: Option<String>,

    /// CA bundle that signs the etcd servers' certificates (default: ETCDCTL_CACERT)
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,

    /// Client certificate for etcd's client port (default: ETCDCTL_CERT)
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_cert: Option<PathBuf>,

    /// Key of --etcd-cert (default: ETCDCTL_KEY)
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_key: Option<PathBuf>,

    /// CA of etcd's peer port, when it differs (RKE2: peer-ca.crt); used to read the cluster ID of a
    /// member that does not serve clients
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_peer_cacert: Option<PathBuf>,

    /// Client certificate for etcd's peer port (default: --etcd-cert)
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_peer_cert: Option<PathBuf>,

    /// Key of --etcd-peer-cert
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_peer_key: Option<PathBuf>,

    /// How to reach etcd besides the etcd pods' logs (always read): `direct` (the etcd endpoints,
    /// when any is configured) or `exec` (also `etcdctl` inside the etcd pods through pods/exec: no
    /// etcd endpoint or certificate needed; a write, so refused with --read-only). Per context also
    /// `via = "exec"` in [contexts.NAME.etcd] or the kubeconfig extension `ktriage/etcd`
    #[arg(long, global = true, value_enum, value_name = "direct|exec")]
    pub etcd_via: Option<EtcdVia>,

    /// Panic after the first frame (proves the terminal is restored on a crash; used by tests)
    #[arg(long, hide = true)]
    pub debug_panic: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every source once, wait for them to sync, evaluate the rules, print the findings and exit
    /// (0: no critical finding, 1: at least one, 2: could not run)
    Report(ReportArgs),
    /// Serve a simulated cluster (the demo cluster) on loopback until interrupted, for kubectl, ktriage
    /// or tests; prints one line with the address and kubeconfig when ready
    Sim(SimArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Scenario: a built-in name, a scenario YAML file, or scale:NODES:PODS[:EVENTS[:NAMESPACES]]
    #[arg(long, default_value = "incident", value_name = "NAME|FILE")]
    pub scenario: String,

    /// Loopback address to listen on (port 0: a free port)
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// Write an admin kubeconfig for the simulator here (mode 0600)
    #[arg(long, value_name = "FILE")]
    pub write_kubeconfig: Option<PathBuf>,

    /// Append every request the simulator serves to FILE as JSON lines
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,

    /// Serve plain HTTP instead of HTTPS with a generated CA
    #[arg(long)]
    pub plain_http: bool,

    /// List the built-in scenarios and exit
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Write the report to FILE (mode 0600) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Keep observing this long after the sources synced (rate and churn rules need a window):
    /// `10s`, `1m`, `500ms`, `0` [default: 10s; 0 with --all-contexts]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub observe: Option<Duration>,

    /// Fleet mode: check every context of the kubeconfig concurrently, one entry per cluster
    #[arg(long)]
    pub all_contexts: bool,

    /// With --all-contexts: how long each context may take before it counts as unreachable
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub context_timeout: Duration,

    /// Hide node names and IP addresses too (for sharing outside the team; credentials are always
    /// scrubbed)
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EtcdVia {
    Direct,
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// `10s`, `2m`, `500ms`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (use e.g. 10s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m or h)")),
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("duration {s:?} out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
