//! Top: usage against requests and limits, per pod or grouped by owner.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{pane_block, scroll_offset, state_body};
use crate::derived::Derived;
use crate::model::quantity::{fmt_bytes, fmt_cpu};
use crate::model::{Model, PaneId, SourceState};
use crate::ui::Theme;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    model: &Model,
    derived: &Derived,
    theme: &Theme,
    now: DateTime<Utc>,
) {
    let top = &model.top;
    // only the rows on screen are built: the order of all of them is kept by the loop, and its
    // length is the count (`row_count` would walk every pod to count without ordering them)
    let total = top.count_in(&derived.top);
    let title = top.filter.title("Top");
    let block = pane_block(&title, &top.state, Some(total), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if total == 0 {
        state_body(frame, inner, &top.state, theme, now);
        return;
    }
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let metrics = match &top.metrics_state {
        SourceState::Ok { at } => format!("metrics {} old", crate::text::age(now, *at)),
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
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(
                    "{} · sort: {} · ",
                    if top.grouped { "by owner" } else { "pods" },
                    top.sort.name()
                ),
                theme.muted(),
            ),
            Span::styled(metrics, metrics_style),
        ])),
        bar,
    );
    let height = usize::from(body.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Top.index()];
    let off = scroll_offset(sel, height, total);
    let dash = || "-".to_string();
    // narrow terminals trade CPU, %REQ and OWNER for the health columns
    let narrow = body.width < 120;
    let keep = |i: usize| !(narrow && (i == 3 || i == 5 || i == 9));
    let pick = |v: Vec<Span<'static>>| -> Vec<Span<'static>> {
        v.into_iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, c)| c)
            .collect()
    };
    let shown = top.view_in(&derived.top, off, height).1;
    let rows = shown.iter().enumerate().map(|(i, r)| {
        let i = i + off;
        let lim_pct = r.pct_of(r.lim_mem_b);
        let style = if lim_pct.is_some_and(|p| p >= 90) {
            theme.critical()
        } else if r.no_limits {
            theme.warning()
        } else {
            theme.ok()
        };
        let owner = r
            .workload
            .as_ref()
            .map(|w| {
                if top.grouped {
                    w.kind.clone()
                } else {
                    format!("{}/{}", w.kind, w.name)
                }
            })
            .unwrap_or_default();
        let name = if top.grouped {
            format!("{}/{} ({})", r.namespace, r.name, r.pods)
        } else {
            format!("{}/{}", r.namespace, r.name)
        };
        let health = if r.unhealthy() {
            theme.warning()
        } else {
            theme.ok()
        };
        let row = Row::new(pick(vec![
            Span::raw(name),
            Span::styled(r.status.clone(), health),
            Span::styled(r.ready.clone(), health),
            Span::raw(r.cpu_m.map(fmt_cpu).unwrap_or_else(dash)),
            Span::styled(r.mem_b.map(fmt_bytes).unwrap_or_else(dash), style),
            Span::raw(
                r.pct_of(r.req_mem_b)
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(dash),
            ),
            Span::styled(
                match (lim_pct, r.lim_mem_b) {
                    (Some(p), _) => format!("{p}%"),
                    (None, None) => "none".into(),
                    (None, Some(_)) => dash(),
                },
                style,
            ),
            Span::raw(r.restarts.to_string()),
            Span::raw(r.node.clone()),
            Span::raw(owner),
        ]));
        if i == sel {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = [
        Constraint::Min(24),
        Constraint::Length(16),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(14),
        Constraint::Min(12),
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| keep(*i))
    .map(|(_, c)| c)
    .collect();
    let headers: Vec<&str> = vec![
        if top.grouped {
            "WORKLOAD (PODS)"
        } else {
            "POD"
        },
        "STATUS",
        "READY",
        "CPU",
        "MEM",
        "%REQ",
        "%LIM",
        "RST",
        "NODE",
        "OWNER",
    ]
    .into_iter()
    .enumerate()
    .filter(|(i, _)| keep(*i))
    .map(|(_, h)| h)
    .collect();
    let table = Table::new(rows, widths).header(Row::new(headers).style(theme.header()));
    frame.render_widget(table, body);
}
