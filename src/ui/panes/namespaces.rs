//! Namespaces: name, phase, age and finalizers (the stuck-namespace analysis builds on this).

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, Table};

use super::{pane_block, scroll_offset, state_body};
use crate::model::store::age;
use crate::model::{Model, PaneId};
use crate::ui::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let ns = &model.namespaces;
    let block = pane_block("Namespaces", &ns.state, Some(ns.store.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if ns.store.is_empty() {
        state_body(frame, inner, &ns.state, theme, now);
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Namespaces.index()];
    let off = scroll_offset(sel, height, ns.store.len());
    let rows = ns
        .store
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, n)| {
            let phase_style = if n.phase == "Terminating" {
                theme.warning()
            } else {
                theme.ok()
            };
            let mut fins: Vec<String> = n.spec_finalizers.clone();
            fins.extend(n.meta_finalizers.iter().cloned());
            let row = Row::new(vec![
                Span::raw(n.name.clone()),
                Span::styled(n.phase.clone(), phase_style),
                Span::raw(n.created.map(|t| age(now, t)).unwrap_or_default()),
                Span::raw(fins.join(",")),
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
            Constraint::Min(20),
            Constraint::Length(12),
            Constraint::Length(6),
            Constraint::Min(20),
        ],
    )
    .header(Row::new(vec!["NAME", "PHASE", "AGE", "FINALIZERS"]).style(theme.header()));
    frame.render_widget(table, inner);
}
