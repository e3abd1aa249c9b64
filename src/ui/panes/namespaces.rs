//! Namespaces: every namespace with its phase and finalizers; for a Terminating one, the blocker
//! named, in fix order, with what remains inside it. Unavailable APIServices are listed on top.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::{Map, Value};

use super::{Cx, Pane, Proposal};
use crate::derived::Derived;
use crate::diagnose::namespaces::report_rows;
use crate::model::namespaces::NsRow;
use crate::model::namespaces::blockers::{blockers, primary};
use crate::model::pane_actions::mutation_for;
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::text::age;
use crate::text::truncate;
use crate::ui::Theme;
use crate::ui::table::{Column, Table};

pub struct Namespaces;
pub const PANE: Namespaces = Namespaces;

impl Pane for Namespaces {
    fn id(&self) -> PaneId {
        PaneId::Namespaces
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.namespaces.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.namespaces.shown().len()
    }

    fn is_empty(&self, model: &Model, _: &Derived) -> bool {
        model.namespaces.store.is_empty()
    }

    filter_at!(namespaces.filter);

    fn propose(
        &self,
        model: &Model,
        _: &Derived,
        action: Action,
        _: DateTime<Utc>,
    ) -> Option<Result<Proposal, String>> {
        pane_write(model, action)
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let (model, theme) = (cx.model, cx.theme);
        let unavailable: Vec<_> = model.namespaces.unavailable().collect();
        let detail_h = (area.height / 2).clamp(4, 14);
        let [top, table_area, detail] = Layout::vertical([
            Constraint::Length(unavailable.len().min(3) as u16),
            Constraint::Min(3),
            Constraint::Length(detail_h),
        ])
        .areas(area);
        let lines: Vec<Line> = unavailable
            .iter()
            .take(3)
            .map(|a| {
                Line::from(vec![
                    Span::styled("APIService unavailable ", theme.critical()),
                    Span::raw(truncate(
                        &format!("{} ({}): {}", a.name, a.reason, a.message),
                        usize::from(area.width).saturating_sub(23),
                    )),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), top);
        let sel = model.ui.selected[PaneId::Namespaces.index()];
        // finalizers only where there is room; the blocker matters more
        let rows = model.namespaces.shown();
        table(cx, area.width >= 120).draw_slice(frame, table_area, &rows, Some(sel), theme);
        draw_detail(frame, detail, model, sel, theme, cx.now);
    }

    fn report(&self, model: &Model, now: DateTime<Utc>, out: &mut Map<String, Value>) {
        if model.namespaces.store.synced {
            out.insert("rows".into(), report_rows(model, now));
        }
    }
}

/// The Namespaces and Webhooks panes' writes (`model::pane_actions`): their keys, else not theirs.
pub(super) fn pane_write(model: &Model, action: Action) -> Option<Result<Proposal, String>> {
    match action {
        Action::Fix
        | Action::Finalize
        | Action::ToggleFailurePolicy
        | Action::BackupDelete
        | Action::Restore => Some(mutation_for(model, action).map(Proposal::from)),
        _ => None,
    }
}

fn table<'a>(cx: &'a Cx, wide: bool) -> Table<'a, &'a NsRow> {
    let (model, theme, now) = (cx.model, cx.theme, cx.now);
    let mut columns = vec![
        Column::new("NAME", Constraint::Min(24), |n: &&NsRow| {
            Span::raw(n.name.clone())
        }),
        Column::new("PHASE", Constraint::Length(11), move |n: &&NsRow| {
            let style = if n.terminating() {
                theme.warning()
            } else {
                theme.ok()
            };
            Span::styled(n.phase.clone(), style)
        }),
        Column::new("AGE", Constraint::Length(5), move |n: &&NsRow| {
            Span::raw(n.created.map(|t| age(now, t)).unwrap_or_default())
        }),
        Column::new("BLOCKER", Constraint::Min(30), move |n: &&NsRow| {
            let blocker = if n.terminating() {
                primary(&blockers(model, n))
                    .map(|b| b.id.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Span::styled(blocker, theme.warning())
        }),
    ];
    if wide {
        columns.push(Column::new("FINALIZERS", Constraint::Min(30), |n: &&NsRow| {
            let mut fins: Vec<String> = n.spec_finalizers.clone();
            fins.extend(n.meta_finalizers.iter().cloned());
            Span::raw(fins.join(","))
        }));
    }
    Table::new(columns)
}

fn draw_detail(
    frame: &mut Frame,
    area: Rect,
    model: &Model,
    sel: usize,
    theme: &Theme,
    now: DateTime<Utc>,
) {
    let Some(n) = model.namespaces.at(sel) else {
        return;
    };
    let mut lines = vec![Line::from(Span::styled(
        format!("── {} ", n.name),
        theme.title(),
    ))];
    if !n.terminating() {
        lines.push(Line::from(Span::styled(
            "Active: nothing to fix.",
            theme.muted(),
        )));
    } else {
        let since = n
            .deleting_since
            .map(|t| format!("Terminating for {}", age(now, t)))
            .unwrap_or_else(|| "Terminating".into());
        let inferred = if n.conditions.is_empty() {
            " · no namespace-controller conditions: blockers inferred"
        } else {
            ""
        };
        lines.push(Line::from(Span::styled(
            format!("{since}{inferred}"),
            theme.muted(),
        )));
        for (i, b) in blockers(model, n).iter().enumerate() {
            lines.push(Line::from(vec![
                Span::styled(format!("{}. {} ", i + 1, b.id), theme.warning()),
                Span::raw(format!("— should be removed by {}", b.owner)),
            ]));
        }
        if let Some(c) = model.namespaces.content.get(&n.name) {
            let kinds: Vec<String> = c
                .kinds
                .iter()
                .map(|k| {
                    let held = if k.held.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} with finalizers)", k.held.len())
                    };
                    format!("{} {}{held}", k.count, k.kind)
                })
                .collect();
            lines.push(Line::from(format!(
                "remaining: {}",
                if kinds.is_empty() {
                    "nothing".to_string()
                } else {
                    kinds.join(", ")
                }
            )));
            if !c.broken.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("not scanned (broken API groups): {}", c.broken.join("; ")),
                    theme.muted(),
                )));
            }
        }
        let hint = super::hint(
            model,
            PaneId::Namespaces,
            &[
                (Action::Fix, "next fix step"),
                (Action::Finalize, "/finalize (last resort)"),
                (Action::Restore, "restore a deleted APIService"),
            ],
        );
        if !hint.is_empty() {
            lines.push(Line::from(Span::styled(hint, theme.accent())));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}
