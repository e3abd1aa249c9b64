//! etcd: the members table (one row per endpoint, IDs in hex as etcdctl prints them), the etcd
//! findings with their evidence, the recovery runbook for the detected distribution, and the log
//! signature groups of the etcd pods. Fits 80×24; at 160×48 findings and runbook sit side by side
//! with the log groups below the runbook.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::{Map, Value, json};

use super::{Cx, Pane, state_body};
use crate::derived::Derived;
use crate::diagnose::etcd::View;
use crate::diagnose::runbook;
use crate::etcd::client::{ErrorKind, EtcdError};
use crate::etcd::probe::EndpointProbe;
use crate::etcd::wire::hex;
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::text::age;
use crate::text::truncate;
use crate::ui::Theme;
use crate::ui::table::{Column, Table};

mod log_groups;

use log_groups::{log_groups, log_summary};

const WIDE: u16 = 140;

pub struct Etcd;
pub const PANE: Etcd = Etcd;

impl Pane for Etcd {
    fn id(&self) -> PaneId {
        PaneId::Etcd
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        model.etcd.pane_state()
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.etcd.row_count()
    }

    /// Without a probe round the body says what is needed and what the API shows.
    fn is_empty(&self, _: &Model, _: &Derived) -> bool {
        false
    }

    filter_at!(etcd.filter);

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        draw(frame, area, cx.model, cx.derived, cx.theme, cx.now);
    }

    fn report(&self, model: &Model, now: DateTime<Utc>, out: &mut Map<String, Value>) {
        if model.etcd.round.is_some() {
            out.insert("rows".into(), model.etcd.rows_json());
        }
        if let Some(rb) = runbook::build(model, now) {
            let steps: Vec<Value> = rb
                .steps
                .iter()
                .map(|s| json!({"text": s.text, "command": s.command}))
                .collect();
            out.insert(
                "runbook".into(),
                json!({"title": rb.title, "distribution": rb.detected.platform.name(), "steps": steps}),
            );
        }
        if let Some(a) = &model.etcd.access {
            out.insert(
                "access".into(),
                json!({"endpoints": a.endpoints, "origin": a.origin}),
            );
        }
    }
}

fn draw(
    frame: &mut Frame,
    inner: Rect,
    model: &Model,
    derived: &Derived,
    theme: &Theme,
    now: DateTime<Utc>,
) {
    let etcd = &model.etcd;
    let Some(round) = &etcd.round else {
        no_round(frame, inner, model, theme, now);
        return;
    };
    let rows = etcd.row_count() as u16;
    let wide = inner.width >= WIDE;
    let table_h = (rows + 1).min(if wide { 9 } else { 6 });
    let [access, table, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_h),
        Constraint::Min(3),
    ])
    .areas(inner);
    let detected = runbook::detect(model);
    // the direct probe's origin, and exec when it is in use; exec alone from a jump host
    let origin = match &etcd.access {
        Some(a) => format!("{}{}", a.origin, exec_in_use(model)),
        None => exec_in_use(model)
            .strip_prefix("; ")
            .map_or_else(|| "-".to_string(), str::to_string),
    };
    let head = format!(
        "access {origin} · {} ({}) · round {} ms, {} ago",
        detected.platform.name(),
        detected.why,
        round.took_ms,
        age(now, round.started)
    );
    frame.render_widget(
        Paragraph::new(Span::styled(
            truncate(&head, usize::from(access.width)),
            theme.muted(),
        )),
        access,
    );
    members(frame, table, model, theme, wide);
    let rb = derived.runbook.as_ref();
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .spacing(2)
                .areas(rest);
        let [left, api] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(left);
        findings(frame, left, model, theme);
        api_view(frame, api, model, theme, now);
        let w = usize::from(right.width.max(1));
        let rb_h = rb.map_or(3, |r| {
            let wrapped: usize = r
                .steps
                .iter()
                .map(|s| {
                    (s.text.chars().count() + 3).div_ceil(w) + usize::from(s.command.is_some())
                })
                .sum();
            (wrapped as u16 + 2).min(right.height.saturating_sub(4))
        });
        let [top, bottom] =
            Layout::vertical([Constraint::Length(rb_h), Constraint::Min(3)]).areas(right);
        runbook_panel(frame, top, rb, theme, true);
        log_groups(frame, bottom, model, theme, now);
    } else {
        let rb_h = rb.map_or(0, |r| (r.steps.len() as u16 + 2).min(rest.height / 2));
        let [top, bottom] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(rb_h)]).areas(rest);
        let summary = log_summary(model, now);
        let [top, logs] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(u16::from(summary.is_some())),
        ])
        .areas(top);
        findings(frame, top, model, theme);
        if let Some(text) = summary {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    truncate(&text, usize::from(logs.width)),
                    theme.muted(),
                )),
                logs,
            );
        }
        if rb_h > 0 {
            runbook_panel(frame, bottom, rb, theme, false);
        }
    }
}

/// Without a round: what is needed, what the Kubernetes API already says, and what the etcd pods'
/// logs say (findings and signature groups: a jump host without etcd access still sees them).
fn no_round(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let etcd = &model.etcd;
    let mut lines: Vec<Line> = Vec::new();
    match &etcd.state {
        SourceState::NotConfigured { why } => {
            lines.push(Line::from(Span::styled(why.clone(), theme.warning())))
        }
        other => {
            if let Some(a) = &etcd.access {
                lines.push(Line::from(Span::styled(
                    format!("{} via {}", a.endpoints.join(", "), a.origin),
                    theme.muted(),
                )));
            }
            let [_, body] =
                Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Min(1)])
                    .areas(area);
            frame.render_widget(Paragraph::new(lines), area);
            state_body(frame, body, other, theme, now);
            return;
        }
    }
    if let Some(note) = &etcd.exec_note {
        lines.push(Line::from(Span::styled(
            format!("exec: {note} ({})", etcd.exec_state.label(now)),
            theme.muted(),
        )));
    }
    let hosts: Vec<String> = etcd
        .pods
        .iter()
        .filter_map(|p| p.host_ip.as_ref().map(|ip| format!("https://{ip}:2379")))
        .collect();
    if !hosts.is_empty() {
        // the exec key, where it may be used (hidden in read-only mode; pointless once exec is on)
        let key = model
            .keymap
            .key_for(Action::EtcdExec, PaneId::Etcd)
            .filter(|_| {
                !model.cluster.read_only
                    && matches!(etcd.exec_state, SourceState::NotConfigured { .. })
            })
            .map(|k| format!(" (or press {k})"))
            .unwrap_or_default();
        lines.push(Line::from(format!(
            "etcd pods seen through the API: try --etcd-endpoints {} with the etcd client certificates, or --etcd-via exec{key}",
            hosts.join(",")
        )));
    }
    if let Some((at, r)) = &etcd.readyz {
        let text = match r {
            Ok(l) if l.is_empty() => "API server /readyz: no etcd check listed".to_string(),
            Ok(l) => format!("API server /readyz: {}", l.join(" · ")),
            Err(f) => format!("API server /readyz: {}", f.message),
        };
        lines.push(Line::from(Span::styled(
            format!("{text} ({} ago)", age(now, *at)),
            theme.muted(),
        )));
    }
    if etcd.logs.is_empty() {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
        return;
    }
    let head_h = (lines.len() as u16 * 2).min(area.height / 3);
    let [head, rest] =
        Layout::vertical([Constraint::Length(head_h), Constraint::Min(3)]).areas(area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), head);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
            .spacing(2)
            .areas(rest);
    findings(frame, left, model, theme);
    log_groups(frame, right, model, theme, now);
}

/// `; exec: …` when etcdctl inside the etcd pods feeds the pane.
fn exec_in_use(model: &Model) -> String {
    match &model.etcd.exec_note {
        Some(n) if !matches!(model.etcd.exec_state, SourceState::NotConfigured { .. }) => {
            format!("; {n}")
        }
        _ => String::new(),
    }
}

fn short_error(e: &EtcdError) -> String {
    match e.kind {
        ErrorKind::Timeout => "timeout".into(),
        ErrorKind::Refused => "refused".into(),
        ErrorKind::Tls(p) => format!("TLS {p:?}"),
        ErrorKind::Server => "error".into(),
        ErrorKind::Protocol => "bad answer".into(),
        ErrorKind::Config => "bad URL".into(),
    }
}

/// Bytes like etcdctl's table (`20 kB`, `2.0 MB`).
pub fn bytes(n: u64) -> String {
    match n {
        0..1000 => format!("{n} B"),
        1000..1_000_000 => format!("{} kB", n / 1000),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

fn members(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, wide: bool) {
    let Some(round) = &model.etcd.round else {
        return;
    };
    let view = View::new(&round.endpoints);
    let islands: Vec<&str> = view.islands().iter().map(|p| p.endpoint.as_str()).collect();
    let row_style = |p: &&EndpointProbe| {
        if islands.contains(&p.endpoint.as_str()) {
            theme.critical()
        } else if p.health.is_err() {
            theme.warning()
        } else {
            Style::default()
        }
    };
    let sel = model.ui.selected[PaneId::Etcd.index()];
    let table = Table::new(member_columns(&view, wide)).row_style(row_style);
    table.draw_slice(frame, area, &model.etcd.shown(), Some(sel), theme);
}

/// A member's name: from the majority's member list, else its own.
fn member_name(view: &View, p: &EndpointProbe) -> Option<String> {
    let id = p.member_id().or_else(|| view.listed_for(p).map(|m| m.id))?;
    view.list
        .and_then(|l| l.members.iter().find(|m| m.id == id))
        .or_else(|| {
            p.members
                .as_ref()
                .ok()
                .and_then(|l| l.members.iter().find(|m| m.id == id))
        })
        .map(|m| m.name.clone())
}

type Probe<'a> = &'a EndpointProbe;

/// The members table's columns: etcdctl's `endpoint status` at 140 columns and more, the IDs, term,
/// size and health below.
fn member_columns<'a>(view: &'a View<'a>, wide: bool) -> Vec<Column<'a, Probe<'a>>> {
    let status = |p: Probe<'a>| p.status.as_ref().ok();
    let raw = |s: String| Span::raw(s);
    let endpoint = move |w: u16| {
        Column::new("ENDPOINT", Constraint::Length(w), move |p: &Probe| {
            raw(p.endpoint.trim_start_matches("https://").trim_start_matches("http://").to_string())
        })
    };
    // a member that does not answer: the ID the majority lists for its URL
    let member_id = Column::new("MEMBER ID", Constraint::Length(16), move |p: &Probe| {
        raw(p.member_id()
            .or_else(|| view.listed_for(p).map(|m| m.id))
            .map(hex)
            .unwrap_or_else(|| "-".into()))
    });
    let cluster_id = Column::new("CLUSTER ID", Constraint::Length(16), move |p: &Probe| {
        raw(p.cluster_id().map(hex).unwrap_or_else(|| "-".into()))
    });
    let leader = Column::new("L", Constraint::Length(1), move |p: &Probe| {
        raw(if status(p).is_some_and(|s| s.is_leader()) { "*" } else { "" }.into())
    });
    let term = move |w: u16| {
        Column::new("TERM", Constraint::Length(w), move |p: &Probe| {
            raw(status(p).map(|s| s.raft_term.to_string()).unwrap_or_default())
        })
    };
    let health = move |w: Constraint| {
        Column::new("HEALTH", w, move |p: &Probe| {
            raw(match &p.health {
                Ok(_) if !p.via.probe => "ok (exec)".to_string(),
                Ok(ms) => format!("ok {ms}ms"),
                Err(e) => short_error(e),
            })
        })
    };
    if !wide {
        return vec![
            endpoint(15),
            member_id,
            cluster_id,
            leader,
            term(4),
            Column::new("DB", Constraint::Length(6), move |p: &Probe| {
                raw(status(p).map(|s| bytes(s.db_size)).unwrap_or_default())
            }),
            health(Constraint::Min(7)),
        ];
    }
    vec![
        endpoint(21),
        member_id,
        Column::new("NAME", Constraint::Length(8), move |p: &Probe| {
            raw(member_name(view, p).unwrap_or_default())
        }),
        cluster_id,
        leader,
        term(5),
        Column::new("INDEX/APPL", Constraint::Length(11), move |p: &Probe| {
            raw(status(p)
                .map(|s| format!("{}/{}", s.raft_index, s.raft_applied_index))
                .unwrap_or_default())
        }),
        Column::new("DB / IN USE", Constraint::Length(15), move |p: &Probe| {
            raw(status(p)
                .map(|s| format!("{} / {}", bytes(s.db_size), bytes(s.db_size_in_use)))
                .unwrap_or_default())
        }),
        Column::new("VERSION", Constraint::Length(7), move |p: &Probe| {
            raw(status(p).map(|s| s.version.clone()).unwrap_or_default())
        }),
        health(Constraint::Length(9)),
        Column::new("ERRORS", Constraint::Min(10), move |p: &Probe| {
            raw(p.status
                .as_ref()
                .err()
                .or(p.health.as_ref().err())
                .map(|e| e.message.clone())
                .or_else(|| status(p).map(|s| s.errors.join(" ")))
                .unwrap_or_default())
        }),
    ]
}

fn findings(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let mine: Vec<_> = model
        .findings
        .iter()
        .filter(|f| f.pane == PaneId::Etcd.name())
        .collect();
    let mut lines: Vec<Line> = Vec::new();
    if mine.is_empty() {
        lines.push(Line::from(Span::styled(
            "No etcd findings: one cluster ID, one leader, member lists agree, quorum reads answer.",
            theme.ok(),
        )));
    }
    for f in mine {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", f.severity.name().to_uppercase()),
                theme.severity(f.severity),
            ),
            Span::styled(f.title.clone(), theme.title()),
        ]));
        for e in &f.evidence {
            lines.push(Line::from(format!("  · {e}")));
        }
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" findings & evidence ", theme.header()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn runbook_panel(
    frame: &mut Frame,
    area: Rect,
    rb: Option<&runbook::Runbook>,
    theme: &Theme,
    wide: bool,
) {
    let Some(rb) = rb else {
        let block = Block::default()
            .borders(Borders::TOP)
            .title(Span::styled(" runbook ", theme.header()));
        frame.render_widget(
            Paragraph::new(Span::styled("no recovery needed", theme.muted())).block(block),
            area,
        );
        return;
    };
    let title = format!(" runbook (y copies; ktriage runs nothing): {} ", rb.title);
    let width = usize::from(area.width).saturating_sub(4);
    let mut lines = Vec::new();
    for (i, s) in rb.steps.iter().enumerate() {
        let command = s.command.as_deref().map(shown);
        if wide {
            lines.push(Line::from(format!("{}. {}", i + 1, s.text)));
            if let Some(c) = &command {
                lines.push(Line::from(Span::styled(
                    format!("   $ {c}"),
                    theme.accent(),
                )));
            }
        } else {
            let text = match &command {
                Some(c) => format!("{}. $ {c}", i + 1),
                None => format!("{}. {}", i + 1, s.text),
            };
            lines.push(Line::from(Span::styled(
                truncate(&text, width + 2),
                theme.accent(),
            )));
        }
    }
    let block = Block::default().borders(Borders::TOP).title(Span::styled(
        truncate(&title, usize::from(area.width)),
        theme.header(),
    ));
    let p = Paragraph::new(lines).block(block);
    let p = if wide {
        p.wrap(Wrap { trim: false })
    } else {
        p
    };
    frame.render_widget(p, area);
}

/// What the Kubernetes API says about etcd: the API server's `/readyz` etcd line and the etcd pods.
fn api_view(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let etcd = &model.etcd;
    let readyz = match &etcd.readyz {
        Some((at, Ok(l))) if !l.is_empty() => format!("{} ({} ago)", l.join(" · "), age(now, *at)),
        Some((_, Ok(_))) => "no etcd check listed".into(),
        Some((_, Err(f))) => f.message.clone(),
        None => "not read yet".into(),
    };
    let pods: Vec<String> = etcd
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} {}{}",
                p.name,
                if p.ready { "ready" } else { p.phase.as_str() },
                if p.restarts > 0 {
                    format!(" ({} restarts)", p.restarts)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let pods = if pods.is_empty() {
        "none seen".to_string()
    } else {
        pods.join(", ")
    };
    let snapshots = match &etcd.snapshots {
        Some(Ok(rows)) => match rows.first() {
            None => "no RKE2/k3s snapshot records".to_string(),
            Some(newest) => format!(
                "{} records, newest {} on {} ({} ago)",
                rows.len(),
                newest.name,
                newest.node.as_deref().unwrap_or("?"),
                newest
                    .created
                    .map(|t| age(now, t))
                    .unwrap_or_else(|| "?".into())
            ),
        },
        Some(Err(f)) => f.message.clone(),
        None => "not read".into(),
    };
    let w = usize::from(area.width);
    let lines = vec![
        Line::from(Span::styled(
            truncate(&format!("etcd snapshots: {snapshots}"), w),
            theme.muted(),
        )),
        Line::from(Span::styled(
            truncate(&format!("API server /readyz: {readyz}"), w),
            theme.muted(),
        )),
        Line::from(Span::styled(
            truncate(&format!("etcd pods: {pods}"), w),
            theme.muted(),
        )),
    ];
    frame.render_widget(Paragraph::new(lines), area);
}

/// A command as shown: the certificate flags and the crictl lookup in front of etcdctl are elided
/// (the copy keeps them).
fn shown(cmd: &str) -> String {
    let mut c = cmd.to_string();
    if let (Some(i), Some(j)) = (
        c.find("--endpoints=https://127.0.0.1:2379 --cacert="),
        c.find(" --key="),
    ) {
        let end = c[j + 7..].find(' ').map_or(c.len(), |k| j + 7 + k);
        c.replace_range(i..end, "[certs]");
    }
    if let (Some(i), Some(j)) = (c.find("CRI_CONFIG_FILE="), c.find(" --quiet) ")) {
        c.replace_range(i..j + 10, "[crictl exec etcd] ");
    }
    if let Some(rest) = c.strip_prefix("kubectl -n kube-system exec ")
        && let Some((pod, tail)) = rest.split_once(" -- ")
    {
        c = format!("[exec {pod}] {tail}");
    }
    if let Some(i) = c.find(" etcdctl ").filter(|_| c.starts_with("ETCDCTL_")) {
        c = format!("[ETCDCTL_* certs] etcdctl {}", &c[i + 9..]);
    }
    c
}
