//! The status bar (context, server, RO/RW badge, API state, last update) and the notice line.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::model::{Model, NoticeLevel};
use crate::text::age;
use crate::text::truncate;

pub fn draw_bar(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let badge = match (&model.ui.replay, model.cluster.read_only) {
        (Some(_), _) => " REPLAY ",
        (None, true) => " RO ",
        (None, false) => " RW ",
    };
    let api = &model.api.state;
    let mut right = match &model.ui.replay {
        Some(r) => format!("{r} · API {}", api.label(now)),
        None => format!("API {}", api.label(now)),
    };
    if let (true, Some(v)) = (api.is_ok(), &model.api.version) {
        right.push(' ');
        right.push_str(v);
    }
    let updated = match api.last_ok() {
        Some(t) => format!(" · upd {} ago", age(now, t)),
        None => String::new(),
    };
    let help = " · ? help";
    let ctx = model.cluster.context.as_deref().unwrap_or("no cluster");
    let server = model.cluster.server.as_deref().unwrap_or("");
    let server = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let ns = model
        .cluster
        .namespace
        .as_deref()
        .map(|n| format!(" -n {n}"))
        .unwrap_or_default();
    let fixed = badge.len() + 2 + right.chars().count() + updated.chars().count() + help.len() + 1;
    let room = usize::from(area.width).saturating_sub(fixed);
    let left_full = format!("{ctx}{ns} {server}");
    let left = truncate(&left_full, room);
    let pad = room.saturating_sub(left.chars().count());
    let line = Line::from(vec![
        Span::styled(badge, theme.badge(model.cluster.read_only)),
        Span::raw(" "),
        Span::styled(left, theme.title()),
        Span::raw(" ".repeat(pad + 1)),
        Span::styled(right, theme.state(api)),
        Span::styled(updated, theme.muted()),
        Span::styled(help, theme.muted()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

pub fn draw_notice(
    frame: &mut Frame,
    area: Rect,
    model: &Model,
    theme: &Theme,
    now: DateTime<Utc>,
) {
    let text = match (&model.notice, model.warnings.first()) {
        (Some(n), _) => {
            let style = match n.level {
                NoticeLevel::Info => theme.accent(),
                NoticeLevel::Warning => theme.warning(),
                NoticeLevel::Error => theme.critical(),
            };
            Span::styled(
                truncate(
                    &format!("{} ({} ago)", n.text, age(now, n.at)),
                    usize::from(area.width),
                ),
                style,
            )
        }
        (None, Some(w)) => Span::styled(truncate(w, usize::from(area.width)), theme.warning()),
        (None, None) => Span::raw(""),
    };
    frame.render_widget(Paragraph::new(Line::from(text)), area);
}
