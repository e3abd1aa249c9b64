//! Events: aggregated by (reason, kind, namespace, node), with count, rate, first/last seen. The
//! filter is a line of its own (typed after `/`), shown in the bar above the table.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use serde_json::json;

use super::{Cx, Pane, ReportRows, ts};
use crate::derived::Derived;
use crate::model::events::{EVICTION_REASONS, EventGroup};
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::text::age;
use crate::ui::table::{Column, Table};

pub struct Events;
pub const PANE: Events = Events;

impl Pane for Events {
    fn id(&self) -> PaneId {
        PaneId::Events
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.events.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.events.group_count()
    }

    /// The title counts events, not groups.
    fn count(&self, model: &Model, _: &Derived) -> Option<usize> {
        Some(model.events.store.len())
    }

    fn is_empty(&self, model: &Model, _: &Derived) -> bool {
        model.events.store.is_empty()
    }

    fn open_filter(&self, model: &mut Model) -> bool {
        model.events.editing = true;
        true
    }

    /// While the filter line is edited, keys type into it: Enter keeps it, Esc clears it.
    fn edit_filter(&self, model: &mut Model, ev: &KeyEvent) -> bool {
        let events = &mut model.events;
        if !events.editing {
            return false;
        }
        match ev.code {
            KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
                events.filter.push(c)
            }
            KeyCode::Backspace => {
                events.filter.pop();
            }
            KeyCode::Enter => events.editing = false,
            KeyCode::Esc => {
                events.filter.clear();
                events.editing = false;
            }
            _ => return false,
        }
        true
    }

    fn view_action(&self, model: &mut Model, action: Action) -> bool {
        let events = &mut model.events;
        match action {
            Action::ToggleWarnings => events.warnings_only = !events.warnings_only,
            Action::Sort => events.sort = events.sort.next(),
            _ => return false,
        }
        true
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let groups = cx.model.events.groups();
        let [bar, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
        frame.render_widget(Paragraph::new(Line::from(bar_spans(cx, groups.len()))), bar);
        let sel = cx.model.ui.selected[PaneId::Events.index()];
        table(cx).draw_slice(frame, body, &groups, Some(sel), cx.theme);
    }

    fn report_rows<'m>(&self, model: &'m Model, _now: DateTime<Utc>) -> Option<ReportRows<'m>> {
        if !model.events.store.synced {
            return None;
        }
        let rows = model.events.groups().into_iter().map(|g| {
            json!({
                "reason": g.reason,
                "kind": g.kind,
                "namespace": g.namespace,
                "node": g.node,
                "warning": g.warning,
                "count": g.count,
                "first_seen": ts(g.first),
                "last_seen": ts(g.last),
                "rate_per_min": (g.rate_per_min() * 10.0).round() / 10.0,
                "message": g.message,
            })
        });
        Some(Box::new(rows))
    }
}

/// `all events · sort: count · 12 groups · /filter · t: to Top · <the storm>`.
fn bar_spans<'a>(cx: &Cx<'a>, groups: usize) -> Vec<Span<'a>> {
    let (ev, theme) = (&cx.model.events, cx.theme);
    let mut spans = vec![Span::styled(
        format!(
            "{} · sort: {} · {groups} groups ",
            if ev.warnings_only {
                "warnings only"
            } else {
                "all events"
            },
            ev.sort.name(),
        ),
        theme.muted(),
    )];
    if ev.editing || !ev.filter.is_empty() {
        spans.push(Span::styled(
            format!("· /{}{} ", ev.filter, if ev.editing { "▏" } else { "" }),
            theme.accent(),
        ));
    }
    if let Some(f) = cx.model.findings.iter().find(|f| f.id == "eviction-storm") {
        if f.subject.is_some() {
            spans.push(Span::styled("· t: to Top · ", theme.accent()));
        }
        spans.push(Span::styled(f.title.clone(), theme.critical()));
    }
    spans
}

/// The groups table; the reason is coloured by what it is (an eviction, a warning, normal).
fn table<'a>(cx: &'a Cx) -> Table<'a, EventGroup> {
    let (theme, now) = (cx.theme, cx.now);
    let when = move |t: Option<DateTime<Utc>>| Span::raw(t.map(|t| age(now, t)).unwrap_or_default());
    Table::new(vec![
        Column::new("REASON", Constraint::Length(14), move |g: &EventGroup| {
            let style = if EVICTION_REASONS.contains(&g.reason.as_str()) {
                theme.critical()
            } else if g.warning {
                theme.warning()
            } else {
                theme.ok()
            };
            Span::styled(g.reason.clone(), style)
        }),
        Column::new("KIND", Constraint::Length(5), |g: &EventGroup| {
            Span::raw(g.kind.clone())
        }),
        Column::new("NAMESPACE", Constraint::Length(12), |g: &EventGroup| {
            Span::raw(g.namespace.clone())
        }),
        Column::new("NODE", Constraint::Length(14), |g: &EventGroup| {
            Span::raw(g.node.clone())
        }),
        Column::new("COUNT", Constraint::Length(5), |g: &EventGroup| {
            Span::raw(g.count.to_string())
        }),
        Column::new("RATE", Constraint::Length(6), |g: &EventGroup| {
            Span::raw(format!("{:.1}/m", g.rate_per_min()))
        }),
        Column::new("FIRST", Constraint::Length(5), move |g: &EventGroup| when(g.first)),
        Column::new("LAST", Constraint::Length(5), move |g: &EventGroup| when(g.last)),
        Column::new("MESSAGE", Constraint::Min(10), |g: &EventGroup| {
            Span::raw(g.message.clone())
        }),
    ])
}
