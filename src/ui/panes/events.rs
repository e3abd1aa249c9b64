//! Events: aggregated by (reason, kind, namespace, node), with count, rate, first/last seen.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{pane_block, scroll_offset, state_body};
use crate::model::{Model, PaneId};
use crate::text::age;
use crate::ui::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let ev = &model.events;
    let groups = ev.groups();
    let block = pane_block("Events", &ev.state, Some(ev.store.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if ev.store.is_empty() {
        state_body(frame, inner, &ev.state, theme, now);
        return;
    }
    let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let storm = model.findings.iter().find(|f| f.id == "eviction-storm");
    let mut spans = vec![Span::styled(
        format!(
            "{} · sort: {} · {} groups ",
            if ev.warnings_only {
                "warnings only"
            } else {
                "all events"
            },
            ev.sort.name(),
            groups.len()
        ),
        theme.muted(),
    )];
    if ev.editing || !ev.filter.is_empty() {
        spans.push(Span::styled(
            format!("· /{}{} ", ev.filter, if ev.editing { "▏" } else { "" }),
            theme.accent(),
        ));
    }
    if let Some(f) = storm {
        if f.subject.is_some() {
            spans.push(Span::styled("· t: to Top · ", theme.accent()));
        }
        spans.push(Span::styled(f.title.clone(), theme.critical()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), bar);
    let height = usize::from(body.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Events.index()];
    let off = scroll_offset(sel, height, groups.len());
    let rows = groups
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, g)| {
            let style = if crate::model::events::EVICTION_REASONS.contains(&g.reason.as_str()) {
                theme.critical()
            } else if g.warning {
                theme.warning()
            } else {
                theme.ok()
            };
            let row = Row::new(vec![
                Span::styled(g.reason.clone(), style),
                Span::raw(g.kind.clone()),
                Span::raw(g.namespace.clone()),
                Span::raw(g.node.clone()),
                Span::raw(g.count.to_string()),
                Span::raw(format!("{:.1}/m", g.rate_per_min())),
                Span::raw(g.first.map(|t| age(now, t)).unwrap_or_default()),
                Span::raw(g.last.map(|t| age(now, t)).unwrap_or_default()),
                Span::raw(g.message.clone()),
            ]);
            if i == sel {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(14),
            Constraint::Length(5),
            Constraint::Length(12),
            Constraint::Length(14),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new(vec![
            "REASON",
            "KIND",
            "NAMESPACE",
            "NODE",
            "COUNT",
            "RATE",
            "FIRST",
            "LAST",
            "MESSAGE",
        ])
        .style(theme.header()),
    );
    frame.render_widget(table, body);
}
