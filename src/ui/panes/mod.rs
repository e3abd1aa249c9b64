//! One renderer per pane, plus the shared title/state handling every pane uses.

mod etcd;
mod etcd_logs;
mod events;
mod leaders;
mod namespaces;
pub mod overview;
mod top;
mod webhooks;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use super::Theme;
use crate::model::store::age;
use crate::model::{FailureKind, Model, PaneId, SourceState};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let pane = model.ui.active;
    match pane {
        PaneId::Overview => overview::draw(frame, area, model, theme, now),
        PaneId::Namespaces => namespaces::draw(frame, area, model, theme, now),
        PaneId::Etcd => etcd::draw(frame, area, model, theme, now),
        PaneId::Leaders => leaders::draw(frame, area, model, theme, now),
        PaneId::Events => events::draw(frame, area, model, theme, now),
        PaneId::Top => top::draw(frame, area, model, theme, now),
        PaneId::Webhooks => webhooks::draw(frame, area, model, theme, now),
    }
}

/// The pane frame; its title carries the state: `Namespaces · ok · 12` or `… · unreachable, stale 40s`.
pub fn pane_block<'a>(
    title: &'a str,
    state: &SourceState,
    count: Option<usize>,
    theme: &Theme,
    now: DateTime<Utc>,
) -> Block<'a> {
    let mut spans = vec![Span::styled(format!(" {title} "), theme.title())];
    spans.push(Span::styled(
        format!("· {} ", state.label(now)),
        theme.state(state),
    ));
    if let Some(n) = count {
        spans.push(Span::styled(format!("· {n} "), theme.muted()));
    }
    Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Line::from(spans))
}

/// What a pane says when it has no rows to show: why, and what happens next.
pub fn state_body(
    frame: &mut Frame,
    area: Rect,
    state: &SourceState,
    theme: &Theme,
    now: DateTime<Utc>,
) {
    let lines: Vec<Line> = match state {
        SourceState::NotConfigured { why } => {
            vec![Line::from(Span::styled(why.clone(), theme.muted()))]
        }
        SourceState::Loading { since } => vec![Line::from(Span::styled(
            format!("loading… (asked {} ago)", age(now, *since)),
            theme.muted(),
        ))],
        SourceState::Ok { .. } => vec![Line::from(Span::styled("nothing to show", theme.muted()))],
        SourceState::Failed {
            failure,
            since,
            last_ok,
        } => {
            let what = match failure.kind {
                FailureKind::Unreachable => "unreachable",
                FailureKind::Forbidden => "forbidden",
                FailureKind::Error => "error",
            };
            let mut l = vec![
                Line::from(Span::styled(
                    format!("{what}: {}", failure.message),
                    theme.state(state),
                )),
                Line::from(Span::styled(
                    format!("failing for {}; retrying with backoff", age(now, *since)),
                    theme.muted(),
                )),
            ];
            if let Some(t) = last_ok {
                l.push(Line::from(Span::styled(
                    format!("last good data {} ago", age(now, *t)),
                    theme.muted(),
                )));
            }
            l
        }
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// The first row index to draw so that `selected` is visible in `height` rows.
pub fn scroll_offset(selected: usize, height: usize, total: usize) -> usize {
    if height == 0 || total <= height {
        return 0;
    }
    selected.saturating_sub(height - 1).min(total - height)
}
