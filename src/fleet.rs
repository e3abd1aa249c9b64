//! Fleet mode, `ktriage report --all-contexts` (CONTRACTS §2): every context of the kubeconfig is
//! checked concurrently, each in its own task with its own timeout (`--context-timeout`), with
//! `--observe 0` unless given. A cluster that refuses connections fails fast; one that accepts and
//! never answers hits its timeout; neither delays the others. One entry per context:
//! JSON `{generated_at, clusters: [{context, state, worst_severity, findings}]}`; exit code 1 when any
//! cluster has a critical finding or is unreachable, 0 otherwise, 2 when nothing could run.
//!
//! Each context gets its own client built by [`crate::session::build_client`], so the read-only gate
//! is per client: read-only from the flag or the config holds for every context.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::json;

use crate::cli::{Format, GlobalArgs, ReportArgs};
use crate::diagnose::{Finding, Severity, worst};
use crate::kube::context::{KubeSetup, resolve};
use crate::model::{ClusterInfo, Model, PaneId};
use crate::session::{Session, build_client};

/// Findings listed per cluster in text and markdown (the JSON carries all).
const SHOWN: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct ClusterEntry {
    pub context: String,
    /// `ok` (answered), `unreachable` (refused, timed out, or the API did not answer), `error`
    /// (the context cannot be used: bad credentials file, unknown cluster).
    pub state: String,
    pub worst_severity: Option<Severity>,
    pub findings: Vec<Finding>,
}

impl ClusterEntry {
    fn failed(context: &str, state: &str, title: String, evidence: String) -> ClusterEntry {
        let mut f = Finding::new(
            "api-unreachable",
            Severity::Critical,
            PaneId::Overview,
            None,
            title,
        );
        f.evidence.push(evidence);
        ClusterEntry {
            context: context.to_string(),
            state: state.into(),
            worst_severity: Some(Severity::Critical),
            findings: vec![f],
        }
    }
}

/// The context names of the kubeconfig the global flags select.
pub fn contexts(global: &GlobalArgs) -> Result<Vec<String>, String> {
    let kc = match &global.kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p)
            .map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        None => kube::config::Kubeconfig::read().map_err(|e| format!("no kubeconfig: {e}"))?,
    };
    Ok(kc.contexts.into_iter().map(|c| c.name).collect())
}

/// Check one context: resolve, build its own gated client, observe, evaluate.
async fn check(session_base: &SessionBase, global: &GlobalArgs, context: String) -> ClusterEntry {
    let setup = match resolve(
        global.kubeconfig.as_deref(),
        Some(&context),
        global.namespace.as_deref(),
    )
    .await
    {
        Ok(KubeSetup::Ready(t)) => t,
        Ok(KubeSetup::NotConfigured { why }) => {
            return ClusterEntry::failed(
                &context,
                "error",
                format!("context {context}: {why}"),
                why,
            );
        }
        Err(e) => {
            let why = e.to_string();
            return ClusterEntry::failed(
                &context,
                "error",
                format!("context {context}: {why}"),
                why,
            );
        }
    };
    let read_only = session_base.read_only || session_base.config.context_read_only(&context);
    let ca = crate::session::kubeconfig_ca(&setup.config);
    let client = match build_client(setup.config, read_only) {
        Ok(c) => c,
        Err(why) => {
            return ClusterEntry::failed(
                &context,
                "error",
                format!("context {context}: cannot build a client"),
                why,
            );
        }
    };
    let session = Session {
        config: session_base.config.clone(),
        cluster: ClusterInfo {
            context: Some(context.clone()),
            server: Some(setup.server.clone()),
            namespace: setup.namespace.clone(),
            user: setup.user.clone(),
            read_only,
            production: session_base.config.is_production(&context),
        },
        client: Some(client),
        not_configured: None,
        executor: None,
        journal: session_base.journal.clone(),
        log_path: None,
        debug_panic: false,
        demo: None,
        etcd: None,
        etcd_exec: crate::etcd::access::ExecMode::Off,
        exec_asked: Default::default(),
        global: None,
        kubeconfig_ca: ca,
        crashing: Default::default(),
        acted: Default::default(),
    };
    let model: Model = crate::report::observe(&session, session_base.observe).await;
    let state = if model.api.state.is_ok() {
        "ok"
    } else {
        "unreachable"
    };
    ClusterEntry {
        context,
        state: state.into(),
        worst_severity: worst(&model.findings),
        findings: model.findings,
    }
}

struct SessionBase {
    config: crate::config::Config,
    journal: crate::journal::Journal,
    read_only: bool,
    observe: Duration,
}

/// Check every context concurrently; entries in kubeconfig order.
pub async fn check_all(
    session: &Session,
    global: &GlobalArgs,
    args: &ReportArgs,
) -> Result<Vec<ClusterEntry>, String> {
    let names = contexts(global)?;
    if names.is_empty() {
        return Err("the kubeconfig defines no contexts".into());
    }
    let base = std::sync::Arc::new(SessionBase {
        config: session.config.clone(),
        journal: session.journal.clone(),
        read_only: global.read_only,
        observe: args.observe.unwrap_or(Duration::ZERO),
    });
    let limit = args.context_timeout;
    let tasks: Vec<_> = names
        .iter()
        .map(|name| {
            let base = base.clone();
            let global = global.clone();
            let name = name.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(limit, check(&base, &global, name.clone())).await {
                    Ok(e) => e,
                    Err(_) => ClusterEntry::failed(
                        &name,
                        "unreachable",
                        format!("context {name}: no answer within {} s", limit.as_secs_f64()),
                        format!(
                            "the API server did not answer within the per-context timeout ({} s)",
                            limit.as_secs_f64()
                        ),
                    ),
                }
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for (name, t) in names.iter().zip(tasks) {
        out.push(t.await.unwrap_or_else(|e| {
            ClusterEntry::failed(
                name,
                "error",
                format!("context {name}: check failed"),
                e.to_string(),
            )
        }));
    }
    Ok(out)
}

pub fn exit_code(entries: &[ClusterEntry]) -> i32 {
    if entries
        .iter()
        .any(|e| e.state != "ok" || e.worst_severity == Some(Severity::Critical))
    {
        1
    } else {
        0
    }
}

fn top_titles(e: &ClusterEntry) -> Vec<String> {
    e.findings
        .iter()
        .take(SHOWN)
        .map(|f| format!("[{}] {}", f.severity.name(), f.title))
        .collect()
}

pub fn render(entries: &[ClusterEntry], format: Format) -> String {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let sev = |e: &ClusterEntry| e.worst_severity.map(Severity::name).unwrap_or("none");
    match format {
        Format::Json => {
            let doc = json!({"generated_at": now, "clusters": entries});
            serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()) + "\n"
        }
        Format::Text => {
            let mut s = format!("ktriage fleet report, generated {now}\n\n");
            for e in entries {
                s.push_str(&format!(
                    "{:<24} {:<12} worst {:<8} {} finding(s)\n",
                    e.context,
                    e.state,
                    sev(e),
                    e.findings.len()
                ));
                for t in top_titles(e) {
                    s.push_str(&format!("    {t}\n"));
                }
            }
            crate::text::scrub(&s)
        }
        Format::Markdown => {
            let mut s = format!(
                "# ktriage fleet report\n\ngenerated {now}\n\n| context | state | worst | findings | top findings |\n|---|---|---|---|---|\n"
            );
            for e in entries {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    e.context,
                    e.state,
                    sev(e),
                    e.findings.len(),
                    top_titles(e).join("<br>").replace('|', "\\|")
                ));
            }
            crate::text::scrub(&s)
        }
    }
}

/// `ktriage report --all-contexts`; returns the exit code.
pub async fn run(session: Session, global: &GlobalArgs, args: &ReportArgs) -> i32 {
    if global.demo.is_some() {
        eprintln!(
            "ktriage report: --all-contexts checks the kubeconfig's contexts; it cannot be combined with --demo"
        );
        return 2;
    }
    let entries = match check_all(&session, global, args).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ktriage report --all-contexts: {e}");
            return 2;
        }
    };
    let text = render(&entries, args.format);
    if let Err(e) = crate::report::write_out(args, &text) {
        eprintln!("ktriage report: {e}");
        return 2;
    }
    exit_code(&entries)
}
