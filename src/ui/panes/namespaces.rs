//! Namespaces: every namespace with its phase and finalizers; for a Terminating one, the blocker
//! named, in fix order, with what remains inside it. Unavailable APIServices are listed on top.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};

use super::{pane_block, scroll_offset, state_body};
use crate::diagnose::namespaces::{blockers, primary};
use crate::model::{Model, PaneId};
use crate::shared::action::Action;
use crate::shared::keymap::Scope;
use crate::text::age;
use crate::text::truncate;
use crate::ui::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let ns = &model.namespaces;
    let shown = ns.shown();
    let title = ns.filter.title("Namespaces");
    let block = pane_block(&title, &ns.state, Some(shown.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if ns.store.is_empty() {
        state_body(frame, inner, &ns.state, theme, now);
        return;
    }
    let unavailable: Vec<_> = ns.unavailable().collect();
    let detail_h = (inner.height / 2).clamp(4, 14);
    let [top, table_area, detail] = Layout::vertical([
        Constraint::Length(unavailable.len().min(3) as u16),
        Constraint::Min(3),
        Constraint::Length(detail_h),
    ])
    .areas(inner);
    let lines: Vec<Line> = unavailable
        .iter()
        .take(3)
        .map(|a| {
            Line::from(vec![
                Span::styled("APIService unavailable ", theme.critical()),
                Span::raw(truncate(
                    &format!("{} ({}): {}", a.name, a.reason, a.message),
                    usize::from(inner.width).saturating_sub(23),
                )),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), top);

    let height = usize::from(table_area.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Namespaces.index()];
    let off = scroll_offset(sel, height, shown.len());
    // finalizers only where there is room; the blocker matters more
    let wide = inner.width >= 120;
    let rows = shown
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, n)| {
            let phase_style = if n.terminating() {
                theme.warning()
            } else {
                theme.ok()
            };
            let blocker = if n.terminating() {
                primary(&blockers(model, n))
                    .map(|b| b.id.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let mut fins: Vec<String> = n.spec_finalizers.clone();
            fins.extend(n.meta_finalizers.iter().cloned());
            let mut cells = vec![
                Span::raw(n.name.clone()),
                Span::styled(n.phase.clone(), phase_style),
                Span::raw(n.created.map(|t| age(now, t)).unwrap_or_default()),
                Span::styled(blocker, theme.warning()),
            ];
            if wide {
                cells.push(Span::raw(fins.join(",")));
            }
            let row = Row::new(cells);
            if i == sel {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let mut widths = vec![
        Constraint::Min(24),
        Constraint::Length(11),
        Constraint::Length(5),
        Constraint::Min(30),
    ];
    let mut header = vec!["NAME", "PHASE", "AGE", "BLOCKER"];
    if wide {
        widths.push(Constraint::Min(30));
        header.push("FINALIZERS");
    }
    let table = Table::new(rows, widths).header(Row::new(header).style(theme.header()));
    frame.render_widget(table, table_area);
    draw_detail(frame, detail, model, sel, theme, now);
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
        let hint = hint(
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

/// `f: next fix step   F: …` from the keymap (keys are data); empty in read-only mode.
pub(super) fn hint(model: &Model, pane: PaneId, actions: &[(Action, &str)]) -> String {
    if model.cluster.read_only {
        return String::new();
    }
    actions
        .iter()
        .filter_map(|(a, what)| {
            model
                .keymap
                .bindings
                .iter()
                .find(|b| b.action == *a && b.scope == Scope::Pane(pane))
                .map(|b| format!("{}: {what}", b.key))
        })
        .collect::<Vec<_>>()
        .join("   ")
}
