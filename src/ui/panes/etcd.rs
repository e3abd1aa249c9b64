//! etcd: the members table (one row per endpoint, IDs in hex as etcdctl prints them), the etcd
//! findings with their evidence, the recovery runbook for the detected distribution, and the log
//! signature groups of the etcd pods. Fits 80×24; at 160×48 findings and runbook sit side by side
//! with the log groups below the runbook.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

use super::etcd_logs::{log_groups, log_summary};
use super::{pane_block, scroll_offset, state_body};
use crate::action::Action;
use crate::diagnose::etcd::View;
use crate::etcd::client::{ErrorKind, EtcdError};
use crate::etcd::probe::EndpointProbe;
use crate::etcd::runbook;
use crate::etcd::wire::hex;
use crate::model::store::age;
use crate::model::{Model, PaneId, SourceState};
use crate::ui::{Theme, truncate};

const WIDE: u16 = 140;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let etcd = &model.etcd;
    let title = etcd.filter.title("etcd");
    let block = pane_block(
        &title,
        etcd.pane_state(),
        Some(etcd.row_count()),
        theme,
        now,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
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
    let rb = runbook::build(model, now);
    if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .spacing(2)
                .areas(rest);
        let [left, api] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(left);
        findings(frame, left, model, theme);
        api_view(frame, api, model, theme, now);
        let w = usize::from(right.width.max(1));
        let rb_h = rb.as_ref().map_or(3, |r| {
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
        runbook_panel(frame, top, rb.as_ref(), theme, true);
        log_groups(frame, bottom, model, theme, now);
    } else {
        let rb_h = rb
            .as_ref()
            .map_or(0, |r| (r.steps.len() as u16 + 2).min(rest.height / 2));
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
            runbook_panel(frame, bottom, rb.as_ref(), theme, false);
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
    let height = usize::from(area.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Etcd.index()];
    let shown = model.etcd.shown();
    let off = scroll_offset(sel, height, shown.len());
    let name_of = |p: &EndpointProbe| {
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
    };
    let rows = shown
        .into_iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, p)| {
            let s = p.status.as_ref().ok();
            let island = islands.contains(&p.endpoint.as_str());
            let style = if island {
                theme.critical()
            } else if p.health.is_err() {
                theme.warning()
            } else {
                Style::default()
            };
            let health = match &p.health {
                Ok(_) if !p.via.probe => "ok (exec)".to_string(),
                Ok(ms) => format!("ok {ms}ms"),
                Err(e) => short_error(e),
            };
            let endpoint = p
                .endpoint
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            // a member that does not answer: the ID the majority lists for its URL
            let id = p
                .member_id()
                .or_else(|| view.listed_for(p).map(|m| m.id))
                .map(hex)
                .unwrap_or_else(|| "-".into());
            let cluster = p.cluster_id().map(hex).unwrap_or_else(|| "-".into());
            let leader = if s.is_some_and(|s| s.is_leader()) {
                "*"
            } else {
                ""
            };
            let term = s.map(|s| s.raft_term.to_string()).unwrap_or_default();
            let db = s.map(|s| bytes(s.db_size)).unwrap_or_default();
            let cells: Vec<String> = if wide {
                let error = p
                    .status
                    .as_ref()
                    .err()
                    .or(p.health.as_ref().err())
                    .map(|e| e.message.clone())
                    .or_else(|| s.map(|s| s.errors.join(" ")))
                    .unwrap_or_default();
                vec![
                    endpoint.to_string(),
                    id,
                    name_of(p).unwrap_or_default(),
                    cluster,
                    leader.into(),
                    term,
                    s.map(|s| format!("{}/{}", s.raft_index, s.raft_applied_index))
                        .unwrap_or_default(),
                    s.map(|s| format!("{} / {}", db, bytes(s.db_size_in_use)))
                        .unwrap_or_default(),
                    s.map(|s| s.version.clone()).unwrap_or_default(),
                    health,
                    error,
                ]
            } else {
                vec![
                    endpoint.to_string(),
                    id,
                    cluster,
                    leader.into(),
                    term,
                    db,
                    health,
                ]
            };
            let row = Row::new(cells).style(style);
            if i == sel {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "ENDPOINT",
                "MEMBER ID",
                "NAME",
                "CLUSTER ID",
                "L",
                "TERM",
                "INDEX/APPL",
                "DB / IN USE",
                "VERSION",
                "HEALTH",
                "ERRORS",
            ],
            vec![
                Constraint::Length(21),
                Constraint::Length(16),
                Constraint::Length(8),
                Constraint::Length(16),
                Constraint::Length(1),
                Constraint::Length(5),
                Constraint::Length(11),
                Constraint::Length(15),
                Constraint::Length(7),
                Constraint::Length(9),
                Constraint::Min(10),
            ],
        )
    } else {
        (
            vec![
                "ENDPOINT",
                "MEMBER ID",
                "CLUSTER ID",
                "L",
                "TERM",
                "DB",
                "HEALTH",
            ],
            vec![
                Constraint::Length(15),
                Constraint::Length(16),
                Constraint::Length(16),
                Constraint::Length(1),
                Constraint::Length(4),
                Constraint::Length(6),
                Constraint::Min(7),
            ],
        )
    };
    let table = Table::new(rows, widths).header(Row::new(header).style(theme.header()));
    frame.render_widget(table, area);
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
