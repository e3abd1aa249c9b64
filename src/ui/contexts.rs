//! The context switcher overlay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use super::{Theme, centered};
use crate::model::{ContextPicker, Model};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, p: &ContextPicker, theme: &Theme) {
    let h = (p.names.len() as u16 + 2).min(area.height);
    let rect = centered(area, 60, h);
    let visible = usize::from(rect.height.saturating_sub(2)).max(1);
    let off = p.selected.saturating_sub(visible - 1);
    let lines: Vec<Line> = p
        .names
        .iter()
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, n)| {
            let current = model.cluster.context.as_deref() == Some(n.as_str());
            let text = format!("{} {n}", if current { "*" } else { " " });
            if i == p.selected {
                Line::styled(text, theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(" Contexts (enter switches, esc closes) ")
                .border_style(theme.header()),
        ),
        rect,
    );
}
