//! The help overlay: the keymap from config (one source with the README table).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear};

use super::table::{Column, Table};
use super::{Theme, centered};
use crate::model::Model;
use crate::shared::keymap::HelpRow;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let all = model.keymap.rows(model.cluster.read_only);
    let h = (all.len() as u16 + 3).min(area.height);
    let rect = centered(area, 76, h);
    // borders and the header row take three lines
    let visible = usize::from(rect.height.saturating_sub(3));
    let max_scroll = all.len().saturating_sub(visible);
    let scroll = model.ui.help_scroll.min(max_scroll);
    frame.render_widget(Clear, rect);
    let mut title = String::from(" Keys ");
    if model.cluster.read_only {
        title.push_str("(read-only: actions that change the cluster are hidden) ");
    }
    let bottom = if max_scroll > 0 {
        format!(
            " rows {}-{} of {}: j/k scroll · esc or ? close ",
            scroll + 1,
            scroll + visible,
            all.len()
        )
    } else {
        " esc or ? to close ".to_string()
    };
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Line::from(title).style(theme.title()))
        .title_bottom(Line::from(bottom).style(theme.muted()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let rows: Vec<HelpRow> = all.into_iter().skip(scroll).take(visible).collect();
    keys_table().draw_at(frame, inner, scroll, rows, None, theme);
}

fn keys_table() -> Table<'static, HelpRow> {
    Table::new(vec![
        Column::new("KEY", Constraint::Length(14), |r: &HelpRow| {
            Span::raw(r.keys.join(", "))
        }),
        Column::new("ACTION", Constraint::Min(30), |r: &HelpRow| {
            Span::raw(r.desc.clone())
        }),
        Column::new("WHERE", Constraint::Length(10), |r: &HelpRow| {
            Span::raw(r.scope.to_string())
        }),
    ])
}
