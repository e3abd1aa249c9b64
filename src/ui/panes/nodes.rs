//! Nodes: name, roles, Ready with the age of its last transition, pressure, taints, kubelet
//! version, pods on the node, usage against allocatable (metrics.k8s.io where served) and the
//! node's warning events; below the table, the selected node's Ready reason, heartbeat, taints,
//! Ready↔NotReady history and last warning. A row takes the colour of the worst finding about its
//! node. Cordon, uncordon and drain act on the selected node; `t` lists its pods in Top.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::json;

use super::{Cx, Pane, Proposal, ReportRows, ts};
use crate::derived::Derived;
use crate::model::nodes::{NodeView, shown, shown_count};
use crate::model::quantity::{fmt_bytes, fmt_cpu};
use crate::model::{Model, PaneId, SourceState};
use crate::mutation::Mutation;
use crate::shared::action::Action;
use crate::text::age;
use crate::ui::table::{Column, Table};

/// From this width the table adds the long roles, the kubelet version and the events' reason.
const WIDE: u16 = 120;

/// Lines of the selected node's detail under the table, shown when the body is this tall.
const DETAIL: u16 = 5;
const DETAIL_FROM_HEIGHT: u16 = 14;

pub struct Nodes;
pub const PANE: Nodes = Nodes;

impl Pane for Nodes {
    fn id(&self) -> PaneId {
        PaneId::Nodes
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.nodes.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        shown_count(model)
    }

    filter_at!(nodes.filter);

    /// `o` sorts; `t` lists the selected node's pods in Top (its name as Top's filter).
    fn view_action(&self, model: &mut Model, action: Action) -> bool {
        match action {
            Action::Sort => model.nodes.sort = model.nodes.sort.next(),
            Action::Jump => {
                let Some(node) = selected(model) else {
                    return false;
                };
                model.top.filter.text = node;
                model.top.filter.editing = false;
                model.top.grouped = false;
                model.ui.selected[PaneId::Top.index()] = 0;
                model.ui.active = PaneId::Top;
            }
            _ => return false,
        }
        true
    }

    fn propose(
        &self,
        model: &Model,
        _: &Derived,
        action: Action,
        _now: DateTime<Utc>,
    ) -> Option<Result<Proposal, String>> {
        let mutation = match action {
            Action::Cordon | Action::Drain => selected(model)
                .ok_or_else(|| format!("{}: select a node", action.name()))
                .map(|node| {
                    if action == Action::Drain {
                        Mutation::Drain { node }
                    } else {
                        let cordoned = model.nodes.get(&node).is_some_and(|n| n.unschedulable);
                        Mutation::Cordon {
                            node,
                            unschedulable: !cordoned,
                        }
                    }
                }),
            _ => return None,
        };
        Some(mutation.map(|m| {
            let current = crate::model::top::actions::current(model, &m);
            Proposal {
                mutation: m,
                current,
            }
        }))
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let detail = if area.height >= DETAIL_FROM_HEIGHT {
            DETAIL
        } else {
            0
        };
        let [bar, table_area, detail_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(detail),
        ])
        .areas(area);
        let rows = shown(cx.model, cx.now);
        let sel = cx.model.ui.selected[PaneId::Nodes.index()];
        frame.render_widget(Paragraph::new(Line::from(bar_spans(cx, &rows))), bar);
        table(cx, area.width >= WIDE).draw_slice(frame, table_area, &rows, Some(sel), cx.theme);
        if detail > 0
            && let Some(v) = rows.get(sel)
        {
            frame.render_widget(Paragraph::new(detail_lines(cx, v)), detail_area);
        }
    }

    fn report_rows<'m>(&self, model: &'m Model, now: DateTime<Utc>) -> Option<ReportRows<'m>> {
        if !model.nodes.store.synced {
            return None;
        }
        let rows = crate::model::nodes::views(model, now).into_iter().map(move |v| {
            let n = v.node;
            let (cpu_pct, mem_pct) = v.pct();
            json!({
                "name": n.name,
                "roles": n.roles_text(),
                "ready": n.ready_text(),
                "ready_since": ts(n.ready_since),
                "reason": n.ready_reason,
                "message": n.ready_message,
                "pressure": n.pressure,
                "taints": n.taints,
                "unschedulable": n.unschedulable,
                "kubelet_version": n.kubelet_version,
                "pods": v.pods,
                "cpu_pct_of_allocatable": cpu_pct,
                "memory_pct_of_allocatable": mem_pct,
                "lease_renew_age_s": v.lease_age,
                "warning_events": v.warnings.len(),
                "ready_flips_last_hour": model.nodes.flips.get(&n.name).map(Vec::len).unwrap_or(0),
            })
        });
        Some(Box::new(rows))
    }
}

/// The selected node's name, as the table shows it (the order does not depend on the clock).
fn selected(model: &Model) -> Option<String> {
    let sel = model.ui.selected[PaneId::Nodes.index()];
    shown(model, model.started_at)
        .get(sel)
        .map(|v| v.node.name.clone())
}

/// `3 of 6 NotReady · sort: health · metrics 12s old`.
fn bar_spans<'a>(cx: &Cx<'a>, rows: &[NodeView]) -> Vec<Span<'a>> {
    let theme = cx.theme;
    let down = rows.iter().filter(|v| v.node.ready == Some(false)).count();
    let metrics = match &cx.model.top.metrics_state {
        SourceState::Ok { at } => format!("metrics {} old", age(cx.now, *at)),
        SourceState::Loading { .. } => "metrics loading".into(),
        _ => "no metrics (metrics-server unavailable)".into(),
    };
    vec![
        Span::styled(
            format!("{down} of {} NotReady", rows.len()),
            if down > 0 { theme.warning() } else { theme.ok() },
        ),
        Span::styled(
            format!(" · sort: {} · {metrics}", cx.model.nodes.sort.name()),
            theme.muted(),
        ),
    ]
}

/// `cp,etcd` for the narrow table.
fn roles_short(v: &NodeView) -> String {
    v.node.roles_text().replace("control-plane", "cp")
}

/// `MemoryPressure, DiskPressure` as `Mem,Disk`.
fn pressure_short(v: &NodeView) -> String {
    let p: Vec<&str> = v
        .node
        .pressure
        .iter()
        .map(|p| p.trim_end_matches("Pressure"))
        .collect();
    if p.is_empty() {
        "-".into()
    } else {
        p.join(",")
    }
}

/// `cordoned`, `NoExecute`, `NoSchedule`, `-`: what the taints mean for scheduling.
fn taints_short(v: &NodeView) -> String {
    let n = v.node;
    let mut t = Vec::new();
    if n.unschedulable {
        t.push("cordoned");
    }
    if n.no_execute() {
        t.push("NoExecute");
    } else if n.taints.iter().any(|t| t.ends_with(":NoSchedule")) && !n.unschedulable {
        t.push("NoSchedule");
    }
    if t.is_empty() {
        "-".into()
    } else {
        t.join(",")
    }
}

fn pct_text(p: Option<u64>) -> String {
    p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

fn table<'a>(cx: &'a Cx, wide: bool) -> Table<'a, NodeView<'a>> {
    let (theme, now) = (cx.theme, cx.now);
    let severities = &cx.derived.severities;
    let style = move |v: &NodeView| theme.finding(severities.of_object("Node", None, &v.node.name, None));
    let mut columns = vec![
        Column::new("NODE", Constraint::Min(14), move |v: &NodeView| {
            Span::styled(v.node.name.clone(), style(v))
        }),
        if wide {
            Column::new("ROLES", Constraint::Length(18), |v: &NodeView| {
                Span::raw(v.node.roles_text())
            })
        } else {
            Column::new("ROLES", Constraint::Length(9), |v: &NodeView| Span::raw(roles_short(v)))
        },
        Column::new("READY", Constraint::Length(13), move |v: &NodeView| {
            let since = v.node.ready_since.map(|t| age(now, t)).unwrap_or_default();
            let text = format!("{} {since}", v.node.ready_text());
            let s = if v.node.ready == Some(true) {
                theme.ok()
            } else {
                style(v).patch(theme.warning())
            };
            Span::styled(text.trim_end().to_string(), s)
        }),
        Column::new("PRESSURE", Constraint::Length(9), move |v: &NodeView| {
            let s = if v.node.pressure.is_empty() {
                theme.muted()
            } else {
                theme.warning()
            };
            Span::styled(pressure_short(v), s)
        }),
        Column::new("TAINTS", Constraint::Length(10), |v: &NodeView| {
            Span::raw(taints_short(v))
        }),
    ];
    if wide {
        columns.push(Column::new("KUBELET", Constraint::Length(16), |v: &NodeView| {
            Span::raw(v.node.kubelet_version.clone())
        }));
    }
    columns.extend([
        Column::new("PODS", Constraint::Length(5), |v: &NodeView| {
            Span::raw(v.pods.to_string())
        }),
        Column::new("CPU", Constraint::Length(5), |v: &NodeView| {
            Span::raw(pct_text(v.pct().0))
        }),
        Column::new("MEM", Constraint::Length(5), |v: &NodeView| {
            Span::raw(pct_text(v.pct().1))
        }),
    ]);
    if wide {
        columns.push(Column::new("WARNINGS", Constraint::Min(12), |v: &NodeView| {
            Span::raw(match v.warnings.first() {
                Some((reason, _, _)) => format!("{} ({reason})", v.warnings.len()),
                None => "-".into(),
            })
        }));
    }
    Table::new(columns)
}

/// The selected node: Ready's reason and message, heartbeat and usage, taints, the Ready↔NotReady
/// history, the last warning event.
fn detail_lines<'a>(cx: &Cx<'a>, v: &NodeView) -> Vec<Line<'a>> {
    let (theme, now, n) = (cx.theme, cx.now, v.node);
    let muted = theme.muted();
    let mut ready = format!("{}: Ready={}", n.name, n.ready_status);
    for part in [&n.ready_reason, &n.ready_message] {
        if !part.is_empty() {
            ready.push_str(" · ");
            ready.push_str(part);
        }
    }
    let heartbeat = match v.lease_age {
        Some(a) => format!("heartbeat {} ago", age(now, now - chrono::Duration::seconds(a))),
        None => "no heartbeat Lease".into(),
    };
    let usage = match v.usage {
        Some(u) => format!(
            "using {} CPU of {}, {} of {}",
            fmt_cpu(u.cpu_m),
            n.alloc_cpu_m.map(fmt_cpu).unwrap_or_else(|| "?".into()),
            fmt_bytes(u.mem_b),
            n.alloc_mem_b.map(fmt_bytes).unwrap_or_else(|| "?".into())
        ),
        None => "no usage (metrics.k8s.io)".into(),
    };
    let flips = cx.model.nodes.flips.get(&n.name).map_or(&[][..], Vec::as_slice);
    let history = match flips.last() {
        Some(last) => format!(
            "Ready↔NotReady {} time(s) in the last hour, last {} ago",
            flips.len(),
            age(now, *last)
        ),
        None => "no Ready↔NotReady change seen while watching".into(),
    };
    let taints = if n.taints.is_empty() {
        "no taints".to_string()
    } else {
        format!("taints {}", n.taints.join(", "))
    };
    let event = match v.warnings.first() {
        Some((reason, message, last)) => format!(
            "last warning: {reason}: {message}{}",
            last.map(|t| format!(" ({} ago)", age(now, t))).unwrap_or_default()
        ),
        None => "no warning events".into(),
    };
    vec![
        Line::from(Span::styled(ready, theme.finding(cx.derived.severities.of_object("Node", None, &n.name, None)))),
        Line::from(Span::styled(
            if n.kubelet_version.is_empty() {
                format!("{heartbeat} · {usage}")
            } else {
                format!("{heartbeat} · {usage} · kubelet {}", n.kubelet_version)
            },
            muted,
        )),
        Line::from(Span::styled(taints, muted)),
        Line::from(Span::styled(history, muted)),
        Line::from(Span::styled(event, muted)),
    ]
}
