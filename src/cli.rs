//! Command line: the TUI by default, `report` for a one-shot run without a terminal, `sim` for the
//! simulated cluster; `completions`, `man` and `config` describe ktriage itself. Completions and the
//! manual page are generated from these definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `0.1.0 (commit 1a2b3c4d5e6f, Kubernetes API v1.33)`: the package version, the git commit the binary
/// was built from, and the Kubernetes API version of the k8s-openapi types it was built against.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("KTRIAGE_GIT_COMMIT"),
    ", Kubernetes API v",
    env!("KTRIAGE_K8S_API"),
    ")"
);

/// The name kubectl's plugin mechanism finds on PATH (`kubectl triage …`).
pub const KUBECTL_PLUGIN: &str = "kubectl-triage";

#[derive(Debug, Parser)]
#[command(
    name = "ktriage",
    version = VERSION,
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

    /// Flight recorder: append what the sources deliver (their rows, never whole objects; log
    /// lines scrubbed of credentials), the rules' findings and this console's actions to FILE,
    /// gzip-compressed, mode 0600, for `ktriage replay` and `ktriage timeline`
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// With --record: rotate FILE to FILE.1 past this many MiB, compressed (each file replays on
    /// its own; at least 0.0625)
    #[arg(long, global = true, value_name = "MIB", default_value_t = 256.0)]
    pub record_max_mb: f64,

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
    /// Open the console on a recording made with --record: every pane and rule as it was, read-only
    /// by construction (no cluster client exists); space pauses, `[`/`]` slow down and speed up,
    /// `{`/`}` seek one minute back and forward
    Replay(ReplayArgs),
    /// Print the incident's timeline (findings found, changed and resolved, actions and their
    /// outcomes, other consoles' actions, source outages) from a recording or an incident snapshot
    Timeline(TimelineArgs),
    /// Print a shell completion script to standard output (e.g. `ktriage completions bash >
    /// /etc/bash_completion.d/ktriage`)
    Completions {
        /// bash, zsh or fish (also elvish, powershell)
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output, or write one page per command into a folder
    Man {
        /// Write ktriage.1 and a page per subcommand (ktriage-report.1, …) into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The config file: where ktriage reads it, and the embedded defaults
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file ktriage reads (--config, KTRIAGE_CONFIG, else
    /// $XDG_CONFIG_HOME/ktriage/config.toml) and check it: errors name the file, line and key; unknown
    /// keys are warnings with a suggestion (exit 2 on an error)
    Path,
    /// Print the embedded defaults with their comments (a starting point: `ktriage config default >
    /// "$(ktriage config path)"`)
    Default,
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

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The recording (`--record FILE`)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Start at this speed (1 = as it happened; `[` and `]` halve and double it)
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub speed: f64,
}

#[derive(Debug, Clone, Args)]
pub struct TimelineArgs {
    /// A recording (`--record FILE`) or an incident snapshot (`s` in the console)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Only the last DURATION of it: `30m`, `2h`
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,

    /// Output format
    #[arg(long, value_enum, default_value_t = TimelineFormat::Markdown)]
    pub format: TimelineFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimelineFormat {
    Markdown,
    Json,
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

impl Cli {
    /// Parses the process arguments. Invoked as `kubectl-triage` (kubectl runs a plugin with the
    /// arguments after its name, so `kubectl triage --context x report` arrives as `--context x report`),
    /// help and errors name the command `kubectl triage`.
    pub fn parse_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let mut cmd = <Cli as clap::CommandFactory>::command();
        if args.first().is_some_and(|a| invoked_as_plugin(a)) {
            cmd = cmd.bin_name("kubectl triage");
        }
        let matches = cmd.get_matches_from(args);
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Whether argv[0] names the kubectl plugin (`kubectl-triage`, a symlink or copy).
pub fn invoked_as_plugin(argv0: &std::ffi::OsStr) -> bool {
    std::path::Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == KUBECTL_PLUGIN)
}

/// The completion script of `shell` for `ktriage`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ktriage", &mut out);
    out
}

/// The manual pages as (file name, roff): `ktriage.1` with ENVIRONMENT, FILES and SEE ALSO, then a
/// page per subcommand (`ktriage-report.1`, `ktriage-config-path.1`, …), all from the clap definition.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            // after build(), a subcommand's display name is `ktriage-report`, its bin name
            // `ktriage report`
            let man = clap_mangen::Man::new(sub.clone().version(VERSION));
            let mut page = Vec::new();
            man.render(&mut page)?;
            out.push((man.get_filename(), page));
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut cmd = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    cmd.build();
    let mut main = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut main)?;
    main.extend_from_slice(MAN_EXTRA.as_bytes());
    let mut out = vec![("ktriage.1".to_string(), main)];
    walk(&cmd, &mut out)?;
    Ok(out)
}

/// Sections of `ktriage.1` that clap does not describe.
const MAN_EXTRA: &str = r#".nh
.SH ENVIRONMENT
.TP
\fBKUBECONFIG\fR
Kubeconfig files, colon\-separated, merged as kubectl merges them (first wins; missing files skipped).
.TP
\fBKTRIAGE_CONFIG\fR
The config file (as \fB\-\-config\fR).
.TP
\fBKTRIAGE_LOG\fR
Log level of the log file (e.g. \fBdebug\fR, \fBktriage=trace\fR).
.TP
\fBETCDCTL_ENDPOINTS\fR, \fBETCDCTL_CACERT\fR, \fBETCDCTL_CERT\fR, \fBETCDCTL_KEY\fR
etcd endpoints and certificates, as etcdctl reads them.
.TP
\fBXDG_CONFIG_HOME\fR, \fBXDG_STATE_HOME\fR
Where the config file, the log and the journal live (default \fI~/.config\fR, \fI~/.local/state\fR).
.TP
\fBNO_COLOR\fR
Set: no colour.
.SH FILES
.TP
\fI$XDG_CONFIG_HOME/ktriage/config.toml\fR
The config file (\fBktriage config path\fR prints and checks it; \fBktriage config default\fR prints the defaults with their comments).
.TP
\fI$XDG_STATE_HOME/ktriage/journal.jsonl\fR
The journal of actions: intent before the first request, outcome after.
.TP
\fI$XDG_STATE_HOME/ktriage/ktriage.log\fR
The log; nothing is logged to the terminal.
.TP
\fI/usr/share/ktriage/ktriage\-auditor.yaml\fR
The read\-only ClusterRole for auditors (Debian package).
.SH "KUBECTL PLUGIN"
Installed as \fBkubectl\-triage\fR on PATH (the Debian package links it), ktriage runs as \fBkubectl triage\fR.
kubectl passes the arguments after the plugin name unchanged, so \fBkubectl triage \-\-context prod \-n shop report\fR
works; kubectl refuses flags placed before the plugin name.
.SH "SEE ALSO"
\fBkubectl\fR(1), \fBetcdctl\fR(1)
"#;

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
