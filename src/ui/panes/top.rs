//! Top: usage against requests and limits, per pod or grouped by owner. Only the rows on screen are
//! built (the order of all of them is kept by the loop). A row's memory takes the colour of the
//! worst finding about its pod or workload.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::json;

use super::{Cx, Pane, Proposal, ReportRows};
use crate::derived::Derived;
use crate::model::quantity::{fmt_bytes, fmt_cpu};
use crate::model::top::{TopRow, actions};
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::shared::finding::Severity;
use crate::shared::finding::Severities;
use crate::text::age;
use crate::ui::table::{Column, Table};

/// Below this width the table trades CPU, %REQ and OWNER for the health columns.
const WIDE: u16 = 120;

pub struct Top;
pub const PANE: Top = Top;

impl Pane for Top {
    fn id(&self) -> PaneId {
        PaneId::Top
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.top.state
    }

    /// From the kept order's length (`TopModel::row_count` would walk every pod to count them).
    fn row_count(&self, model: &Model, derived: &Derived) -> usize {
        model.top.count_in(&derived.top)
    }

    filter_at!(top.filter);

    fn view_action(&self, model: &mut Model, action: Action) -> bool {
        match action {
            Action::Sort => model.top.sort = model.top.sort.next(),
            Action::Group => {
                model.top.grouped = !model.top.grouped;
                model.ui.selected[PaneId::Top.index()] = 0;
            }
            _ => return false,
        }
        true
    }

    fn propose(
        &self,
        model: &Model,
        derived: &Derived,
        action: Action,
        now: DateTime<Utc>,
    ) -> Option<Result<Proposal, String>> {
        let p = actions::proposal(model, &derived.top, action, now)?;
        Some(p.map(|(mutation, current)| Proposal { mutation, current }))
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        frame.render_widget(Paragraph::new(Line::from(bar_spans(cx))), bar);
        let (top, order) = (&cx.model.top, &cx.derived.top);
        let total = top.count_in(order);
        let sel = cx.model.ui.selected[PaneId::Top.index()];
        let severities = &cx.derived.severities;
        let window = |offset, n| top.view_in(order, offset, n).1;
        table(cx, severities, body.width >= WIDE).draw(
            frame,
            body,
            total,
            window,
            Some(sel),
            cx.theme,
        );
    }

    fn report_rows<'m>(&self, model: &'m Model, _now: DateTime<Utc>) -> Option<ReportRows<'m>> {
        if !model.top.pods.synced {
            return None;
        }
        let rows = model.top.rows_iter().map(|r| {
            json!({
                "namespace": r.namespace,
                "name": r.name,
                "owner": r.workload.as_ref().map(|w| format!("{}/{}", w.kind, w.name)),
                "node": r.node,
                "cpu_m": r.cpu_m,
                "memory_bytes": r.mem_b,
                "memory_pct_of_request": r.pct_of(r.req_mem_b),
                "memory_pct_of_limit": r.pct_of(r.lim_mem_b),
                "restarts": r.restarts,
                "no_limits": r.no_limits,
            })
        });
        Some(Box::new(rows))
    }
}

/// `pods · sort: memory · metrics 12s old`.
fn bar_spans<'a>(cx: &Cx<'a>) -> Vec<Span<'a>> {
    let (top, theme) = (&cx.model.top, cx.theme);
    let metrics = match &top.metrics_state {
        SourceState::Ok { at } => format!("metrics {} old", age(cx.now, *at)),
        SourceState::Loading { .. } => "metrics loading".into(),
        other => format!(
            "no metrics: {}",
            other.error_text().unwrap_or("metrics-server unavailable")
        ),
    };
    let metrics_style = if top.metrics_state.is_ok() {
        theme.muted()
    } else {
        theme.warning()
    };
    vec![
        Span::styled(
            format!(
                "{} · sort: {} · ",
                if top.grouped { "by owner" } else { "pods" },
                top.sort.name()
            ),
            theme.muted(),
        ),
        Span::styled(metrics, metrics_style),
    ]
}

/// The worst finding about a row: its workload, and for a pod row the pod too.
fn worst(severities: &Severities, grouped: bool, r: &TopRow) -> Option<Severity> {
    let workload = r.workload.as_ref().and_then(|w| {
        severities.of_object(&w.kind, Some(&w.namespace), &w.name, None)
    });
    let pod = (!grouped)
        .then(|| severities.of_object("Pod", Some(&r.namespace), &r.name, None))
        .flatten();
    workload.into_iter().chain(pod).min()
}

fn table<'a>(cx: &'a Cx, severities: &'a Severities, wide: bool) -> Table<'a, TopRow> {
    let (theme, grouped) = (cx.theme, cx.model.top.grouped);
    let style = move |r: &TopRow| theme.finding(worst(severities, grouped, r));
    let health = move |r: &TopRow| {
        if r.unhealthy() {
            theme.warning()
        } else {
            theme.ok()
        }
    };
    let dash = || "-".to_string();
    let mut columns = vec![
        Column::new(
            if grouped { "WORKLOAD (PODS)" } else { "POD" },
            Constraint::Min(24),
            move |r: &TopRow| {
                Span::raw(if grouped {
                    format!("{}/{} ({})", r.namespace, r.name, r.pods)
                } else {
                    format!("{}/{}", r.namespace, r.name)
                })
            },
        ),
        Column::new("STATUS", Constraint::Length(16), move |r: &TopRow| {
            Span::styled(r.status.clone(), health(r))
        }),
        Column::new("READY", Constraint::Length(5), move |r: &TopRow| {
            Span::styled(r.ready.clone(), health(r))
        }),
    ];
    if wide {
        columns.push(Column::new("CPU", Constraint::Length(6), move |r: &TopRow| {
            Span::raw(r.cpu_m.map(fmt_cpu).unwrap_or_else(dash))
        }));
    }
    columns.push(Column::new("MEM", Constraint::Length(8), move |r: &TopRow| {
        Span::styled(r.mem_b.map(fmt_bytes).unwrap_or_else(dash), style(r))
    }));
    if wide {
        columns.push(Column::new("%REQ", Constraint::Length(6), move |r: &TopRow| {
            let pct = r.pct_of(r.req_mem_b);
            Span::raw(pct.map(|p| format!("{p}%")).unwrap_or_else(dash))
        }));
    }
    columns.extend([
        Column::new("%LIM", Constraint::Length(5), move |r: &TopRow| {
            let text = match (r.pct_of(r.lim_mem_b), r.lim_mem_b) {
                (Some(p), _) => format!("{p}%"),
                (None, None) => "none".into(),
                (None, Some(_)) => dash(),
            };
            Span::styled(text, style(r))
        }),
        Column::new("RST", Constraint::Length(4), |r: &TopRow| {
            Span::raw(r.restarts.to_string())
        }),
        Column::new("NODE", Constraint::Length(14), |r: &TopRow| {
            Span::raw(r.node.clone())
        }),
    ]);
    if wide {
        columns.push(Column::new("OWNER", Constraint::Min(12), move |r: &TopRow| {
            Span::raw(
                r.workload
                    .as_ref()
                    .map(|w| {
                        if grouped {
                            w.kind.clone()
                        } else {
                            format!("{}/{}", w.kind, w.name)
                        }
                    })
                    .unwrap_or_default(),
            )
        }));
    }
    Table::new(columns)
}
