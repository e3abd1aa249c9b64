//! Webhooks: every validating and mutating webhook with its failurePolicy, timeout, backend and
//! blast radius; the selected one in detail.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::{Map, Value};

use super::{Cx, Pane, Proposal};
use crate::derived::Derived;
use crate::diagnose::webhooks::{blocked_namespaces, report_rows, self_blocking};
use crate::model::webhooks::{WebhookConfigRow, WebhookRow};
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::text::truncate;
use crate::shared::finding::Severities;
use crate::ui::Theme;
use crate::ui::table::{Column, Table};

type WebhookLine<'a> = (&'a WebhookConfigRow, usize, &'a WebhookRow);

pub struct Webhooks;
pub const PANE: Webhooks = Webhooks;

impl Pane for Webhooks {
    fn id(&self) -> PaneId {
        PaneId::Webhooks
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.webhooks.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.webhooks.shown().len()
    }

    fn is_empty(&self, model: &Model, _: &Derived) -> bool {
        model.webhooks.row_count() == 0
    }

    filter_at!(webhooks.filter);

    fn propose(
        &self,
        model: &Model,
        _: &Derived,
        action: Action,
        _: DateTime<Utc>,
    ) -> Option<Result<Proposal, String>> {
        super::namespaces::pane_write(model, action)
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let detail_h = (area.height / 2).clamp(4, 14);
        let [table_area, detail] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(area);
        let sel = cx.model.ui.selected[PaneId::Webhooks.index()];
        let rows = cx.model.webhooks.shown();
        let severities = &cx.derived.severities;
        table(cx, severities).draw_slice(frame, table_area, &rows, Some(sel), cx.theme);
        draw_detail(frame, detail, cx.model, sel, cx.theme);
    }

    fn report(&self, model: &Model, _now: DateTime<Utc>, out: &mut Map<String, Value>) {
        if model.webhooks.validating.synced {
            out.insert("rows".into(), report_rows(model));
        }
    }
}

/// The webhooks table; the policy takes the colour of the webhook's worst finding (blocking,
/// failing open), the backend red while it has no ready endpoint.
fn table<'a>(cx: &'a Cx, severities: &'a Severities) -> Table<'a, WebhookLine<'a>> {
    let (model, theme) = (cx.model, cx.theme);
    let wm = &model.webhooks;
    Table::new(vec![
        Column::new("WEBHOOK", Constraint::Min(18), |(_, _, w): &WebhookLine| {
            Span::raw(w.name.clone())
        }),
        Column::new("KIND", Constraint::Length(10), |(c, _, _): &WebhookLine| {
            Span::raw(c.kind.short())
        }),
        Column::new("POLICY", Constraint::Length(6), move |(c, _, w): &WebhookLine| {
            let worst = severities.of_object(c.kind.config_kind(), None, &c.name, Some(&w.name));
            Span::styled(w.failure_policy.clone(), theme.finding(worst))
        }),
        Column::new("TIME", Constraint::Length(4), |(_, _, w): &WebhookLine| {
            Span::raw(format!("{}s", w.timeout_seconds))
        }),
        Column::new("BACKEND", Constraint::Length(10), move |(_, _, w): &WebhookLine| {
            let reach = wm.reach(w);
            let style = if reach.down() {
                theme.critical()
            } else {
                theme.muted()
            };
            Span::styled(reach.label(), style)
        }),
        Column::new("PODS", Constraint::Length(4), |(_, _, w): &WebhookLine| {
            Span::raw(if w.matches("CREATE", "pods") {
                "yes"
            } else {
                "no"
            })
        }),
        Column::new("BLOCKS", Constraint::Length(7), move |(_, _, w): &WebhookLine| {
            let blocks = w.failure_policy != "Ignore" && wm.reach(w).down() && w.matches("CREATE", "pods");
            Span::raw(if blocks {
                blocked_namespaces(model, w).len().to_string()
            } else {
                "-".into()
            })
        }),
        Column::new("CONFIGURATION", Constraint::Min(12), |(c, _, _): &WebhookLine| {
            Span::raw(c.name.clone())
        }),
    ])
}

fn draw_detail(frame: &mut Frame, area: Rect, model: &Model, sel: usize, theme: &Theme) {
    let wm = &model.webhooks;
    let Some((c, index, w)) = wm.shown().into_iter().nth(sel) else {
        return;
    };
    let width = usize::from(area.width);
    let reach = wm.reach(w);
    let mut lines = vec![
        Line::from(Span::styled(
            format!(
                "── {} in {} {} (#{index})",
                w.name,
                c.kind.config_kind(),
                c.name
            ),
            theme.title(),
        )),
        Line::from(format!(
            "policy {} · timeout {}s · sideEffects {} · backend {} ({})",
            w.failure_policy,
            w.timeout_seconds,
            w.side_effects,
            w.backend.describe(),
            reach.label()
        )),
        Line::from(format!(
            "namespaceSelector {} · objectSelector {}",
            w.namespace_selector.describe(),
            w.object_selector.describe()
        )),
    ];
    for r in w.rules.iter().take(2) {
        lines.push(Line::from(truncate(
            &format!(
                "rule: {} {} on {} ({})",
                r.operations.join(","),
                r.api_groups
                    .iter()
                    .map(|g| if g.is_empty() { "core" } else { g.as_str() })
                    .collect::<Vec<_>>()
                    .join(","),
                r.resources.join(","),
                r.scope
            ),
            width,
        )));
    }
    if w.failure_policy != "Ignore" && reach.down() && w.matches("CREATE", "pods") {
        lines.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "BLOCKS pod creation in: {}",
                    blocked_namespaces(model, w).join(", ")
                ),
                width,
            ),
            theme.critical(),
        )));
    }
    if self_blocking(model, w) {
        lines.push(Line::from(Span::styled(
            "matches its own backend's pods (a replacement backend pod is blocked too)",
            theme.critical(),
        )));
    }
    lines.extend(detail_tail(model, c, w, width, theme));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// The detail's last lines: the failed-call events, ktriage's last action, the keys.
fn detail_tail<'a>(
    model: &Model,
    c: &WebhookConfigRow,
    w: &WebhookRow,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let wm = &model.webhooks;
    let mut lines = Vec::new();
    let events: Vec<_> = wm.events_for(&w.name).collect();
    if !events.is_empty() {
        let total: i32 = events.iter().map(|e| e.count).sum();
        lines.push(Line::from(truncate(
            &format!(
                "{} failed-call warning events ({} times), latest: {}",
                events.len(),
                total,
                events[0].message
            ),
            width,
        )));
    }
    if let Some(a) = &c.last_action {
        lines.push(Line::from(Span::styled(
            truncate(&format!("ktriage.io/last-action: {a}"), width),
            theme.muted(),
        )));
    }
    let hint = super::hint(
        model,
        PaneId::Webhooks,
        &[
            (
                Action::ToggleFailurePolicy,
                "toggle failurePolicy (asks why)",
            ),
            (Action::BackupDelete, "back up + delete configuration"),
            (Action::Restore, "restore"),
        ],
    );
    if !hint.is_empty() {
        lines.push(Line::from(Span::styled(hint, theme.accent())));
    }
    lines
}
