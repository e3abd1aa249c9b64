//! `ktriage report`: the same sources and rules as the TUI, run once without a terminal.
//!
//! Start the sources, wait until each has synced or failed (or `sync_timeout_secs`), keep observing for
//! `--observe`, evaluate the rules once, print, exit 0 (no critical finding) or 1 (at least one).

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::{Format, ReportArgs};
use crate::diagnose::{Finding, Severity};
use crate::model::{Model, SourceState};
use crate::msg::Msg;
use crate::session::Session;
use crate::update::{apply, update};

mod document;
pub use document::Document;

/// `--observe` when not given (rate and churn rules need a window).
pub const DEFAULT_OBSERVE_SECS: u64 = 10;

/// Run the report; returns the process exit code.
pub async fn run(session: Session, args: &ReportArgs) -> i32 {
    if session.nothing_configured() {
        let why = session
            .not_configured
            .as_deref()
            .unwrap_or("no cluster access");
        eprintln!(
            "ktriage report: no source configured: {why}; and {}",
            crate::etcd::access::NEEDS
        );
        return 2;
    }
    run_configured(session, args).await
}

async fn run_configured(session: Session, args: &ReportArgs) -> i32 {
    let model = observe(
        &session,
        args.observe
            .unwrap_or(Duration::from_secs(DEFAULT_OBSERVE_SECS)),
    )
    .await;
    let now = Utc::now();
    let text = match args.format {
        Format::Json => return write_json(args, &model, now),
        Format::Text => text(&model, now),
        Format::Markdown => {
            let entries = session.journal.read().map(|(e, _)| e).unwrap_or_default();
            let entries = crate::snapshot::run_entries(&entries, model.started_at);
            crate::snapshot::document(&model, now, &entries, args.redact)
        }
    };
    let text = if args.redact && args.format == Format::Text {
        crate::snapshot::redact_hosts(&model, &crate::text::scrub(&text))
    } else {
        text
    };
    if let Err(e) = write_out(args, &text) {
        eprintln!("ktriage report: {e}");
        return 2;
    }
    exit_code(&model.findings)
}

/// `--format json`: the document written as it is made (never held whole); the exit code.
fn write_json(args: &ReportArgs, model: &Model, now: DateTime<Utc>) -> i32 {
    let doc = Document { model, now };
    let written = write_with(args, |out| {
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        out.write_all(b"\n")
    });
    if let Err(e) = written {
        eprintln!("ktriage report: {e}");
        return 2;
    }
    exit_code(&model.findings)
}

/// 1 when any finding is critical, else 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    if findings.iter().any(|f| f.severity == Severity::Critical) {
        1
    } else {
        0
    }
}

/// Feed the model from the sources until they settle, then for `observe` more.
pub async fn observe(session: &Session, observe: Duration) -> Model {
    let mut model = Model::new(
        session.cluster.clone(),
        session.config.keymap.clone(),
        Utc::now(),
    )
    .with_tuning(session.config.tuning);
    session.configure_model(&mut model, Utc::now());
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let sources = session.start_sources(&tx);
    drop(tx);
    let sync_deadline =
        Instant::now() + Duration::from_secs(session.config.intervals.sync_timeout_secs);
    // phase 1: until every source has answered (synced or failed) or the sync timeout
    while !settled(&model) {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => {
                    apply(&mut model, m, Utc::now());
                    session.crashing.offer(&model);
                }
                None => break,
            },
            _ = tokio::time::sleep_until(sync_deadline) => {
                time_out_loading(&mut model, session.config.intervals.sync_timeout_secs);
                break;
            }
        }
    }
    // the lists' answers are decoded and dropped: their pages go back
    crate::memory::release_freed();
    // phase 2: the observation window
    let end = Instant::now() + observe;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(m) => {
                    let poll = matches!(m, Msg::Metrics(_));
                    apply(&mut model, m, Utc::now());
                    session.crashing.offer(&model);
                    if poll {
                        crate::memory::release_freed();
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    for s in sources {
        s.abort();
    }
    update(&mut model, Msg::Tick, Utc::now());
    model
}

fn settled(model: &Model) -> bool {
    model
        .sources()
        .iter()
        .all(|(_, s)| !matches!(s, SourceState::Loading { .. }))
}

fn time_out_loading(model: &mut Model, secs: u64) {
    let now = Utc::now();
    let loading: Vec<crate::model::SourceId> = model
        .sources()
        .iter()
        .filter(|(_, st)| matches!(st, SourceState::Loading { .. }))
        .map(|(id, _)| *id)
        .collect();
    for id in loading {
        let failure = crate::model::Failure {
            kind: crate::model::FailureKind::Unreachable,
            message: format!("{id}: no answer within the sync timeout ({secs} s)"),
        };
        update(model, Msg::SourceFailed(id, failure), now);
    }
}

pub fn write_out(args: &ReportArgs, text: &str) -> Result<(), String> {
    write_with(args, |out| out.write_all(text.as_bytes()))
}

/// Write the report with `write` to standard output or `--out` (created mode 0600), buffered.
fn write_with(
    args: &ReportArgs,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    match &args.out {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write(&mut out)
                .and_then(|_| out.flush())
                .map_err(|e| format!("cannot write the report: {e}"))
        }
        Some(path) => {
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).write(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            opts.open(path)
                .and_then(|f| {
                    let mut out = std::io::BufWriter::new(f);
                    write(&mut out)?;
                    out.flush()
                })
                .map_err(|e| format!("cannot write the report to {}: {e}", path.display()))
        }
    }
}

pub(crate) fn source_json(state: &SourceState, now: DateTime<Utc>) -> Value {
    let mut m = Map::new();
    m.insert("state".into(), json!(state.report_state()));
    m.insert(
        "age_s".into(),
        json!(state.last_ok().map(|t| (now - t).num_seconds().max(0))),
    );
    if let Some(e) = state.error_text() {
        m.insert("error".into(), json!(e));
    }
    Value::Object(m)
}

/// The JSON document of the contract: `{generated_at, context, cluster, sources, panes, findings}`,
/// as a JSON tree (`ktriage report --format json` writes [`Document`] as it is made instead).
pub fn document(model: &Model, now: DateTime<Utc>) -> Value {
    serde_json::to_value(Document { model, now }).unwrap_or_default()
}

fn counts(findings: &[Finding]) -> String {
    let n = |s| findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} critical, {} warning, {} info",
        n(Severity::Critical),
        n(Severity::Warning),
        n(Severity::Info)
    )
}

fn header(model: &Model, now: DateTime<Utc>) -> (String, String) {
    let ctx = model.cluster.context.as_deref().unwrap_or("-");
    let server = model.cluster.server.as_deref().unwrap_or("-");
    (
        format!("context {ctx}, cluster {server}"),
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

pub fn text(model: &Model, now: DateTime<Utc>) -> String {
    let (who, when) = header(model, now);
    let mut s = format!("ktriage report: {who}, generated {when}\n\nSources:\n");
    for (id, st) in model.sources() {
        s.push_str(&format!("  {:<11} {}", id.name(), st.label(now)));
        if let Some(e) = st.error_text() {
            s.push_str(&format!(" ({e})"));
        }
        s.push('\n');
    }
    s.push_str(&format!("\nFindings ({}):\n", counts(&model.findings)));
    if model.findings.is_empty() {
        s.push_str("  none\n");
    }
    for f in &model.findings {
        s.push_str(&format!(
            "\n[{}] {}\n  id: {}\n",
            f.severity.name().to_uppercase(),
            f.title,
            f.key
        ));
        for e in &f.evidence {
            s.push_str(&format!("  - {e}\n"));
        }
        if !f.fix.text.is_empty() {
            s.push_str(&format!("  fix: {}\n", f.fix.text));
        }
    }
    if let Some(rb) = crate::diagnose::runbook::build(model, now) {
        s.push_str(&format!("\nRunbook: {}\n", rb.title));
        for (i, step) in rb.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {}\n", i + 1, step.text));
            if let Some(c) = &step.command {
                s.push_str(&format!("     $ {c}\n"));
            }
        }
    }
    s
}

/// The markdown report: the incident snapshot's document (without journal entries).
pub fn markdown(model: &Model, now: DateTime<Utc>) -> String {
    crate::snapshot::document(model, now, &[], false)
}
