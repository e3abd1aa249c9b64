//! Webhooks: every validating and mutating webhook with its failurePolicy, timeout, backend and
//! blast radius; the selected one in detail.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use super::{pane_block, scroll_offset, state_body};
use crate::diagnose::webhooks::{blocked_namespaces, self_blocking};
use crate::model::{Model, PaneId};
use crate::shared::action::Action;
use crate::text::truncate;
use crate::ui::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let wm = &model.webhooks;
    let shown = wm.shown();
    let total = shown.len();
    let title = wm.filter.title("Webhooks");
    let block = pane_block(&title, &wm.state, Some(total), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if wm.row_count() == 0 {
        state_body(frame, inner, &wm.state, theme, now);
        return;
    }
    let detail_h = (inner.height / 2).clamp(4, 14);
    let [table_area, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_h)]).areas(inner);
    let height = usize::from(table_area.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Webhooks.index()];
    let off = scroll_offset(sel, height, total);
    let rows = shown
        .iter()
        .copied()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, (c, _, w))| {
            let reach = wm.reach(w);
            let fail = w.failure_policy != "Ignore";
            let pods = w.matches("CREATE", "pods");
            let policy_style = if fail && reach.down() {
                theme.critical()
            } else if !fail && reach.down() {
                theme.warning()
            } else {
                theme.ok()
            };
            let blocked = if fail && reach.down() && pods {
                blocked_namespaces(model, w).len().to_string()
            } else {
                "-".into()
            };
            let row = Row::new(vec![
                Span::raw(w.name.clone()),
                Span::raw(c.kind.short()),
                Span::styled(w.failure_policy.clone(), policy_style),
                Span::raw(format!("{}s", w.timeout_seconds)),
                Span::styled(
                    reach.label(),
                    if reach.down() {
                        theme.critical()
                    } else {
                        theme.muted()
                    },
                ),
                Span::raw(if pods { "yes" } else { "no" }),
                Span::raw(blocked),
                Span::raw(c.name.clone()),
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
            Constraint::Min(18),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Min(12),
        ],
    )
    .header(
        Row::new(vec![
            "WEBHOOK",
            "KIND",
            "POLICY",
            "TIME",
            "BACKEND",
            "PODS",
            "BLOCKS",
            "CONFIGURATION",
        ])
        .style(theme.header()),
    );
    frame.render_widget(table, table_area);
    draw_detail(frame, detail, model, sel, theme);
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
    let hint = super::namespaces::hint(
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
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
