//! The help overlay: the keymap from config (one source with the README table).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Row, Table};

use super::{Theme, centered};
use crate::keymap::{Keymap, Scope};
use crate::model::Model;

/// Rows of (keys, description, scope), keys with the same action and scope joined: `down, j`.
pub fn rows(keymap: &Keymap, read_only: bool) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String, crate::action::Action, Scope)> = Vec::new();
    for b in keymap.visible(read_only) {
        if let Some(r) = out.iter_mut().find(|r| r.3 == b.action && r.4 == b.scope) {
            r.0.push_str(", ");
            r.0.push_str(&b.key.to_string());
        } else {
            out.push((
                b.key.to_string(),
                b.desc.clone(),
                b.scope.to_string(),
                b.action,
                b.scope,
            ));
        }
    }
    out.into_iter().map(|(k, d, s, _, _)| (k, d, s)).collect()
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let all = rows(&model.keymap, model.cluster.read_only);
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
    let table = Table::new(
        all.into_iter()
            .skip(scroll)
            .take(visible)
            .map(|(k, d, s)| Row::new(vec![k, d, s])),
        [
            Constraint::Length(14),
            Constraint::Min(30),
            Constraint::Length(10),
        ],
    )
    .header(Row::new(vec!["KEY", "ACTION", "WHERE"]).style(theme.header()))
    .block(
        Block::bordered()
            .border_type(BorderType::Rounded)
            .title(Line::from(title).style(theme.title()))
            .title_bottom(Line::from(bottom).style(theme.muted())),
    );
    frame.render_widget(table, rect);
}
