//! Leaders: holder, its node, renew age against the lease duration, transitions, acquire time.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, Table};

use super::{pane_block, scroll_offset, state_body};
use crate::model::leaders::LeaderSource;
use crate::model::{Model, PaneId};
use crate::text::age;
use crate::ui::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let l = &model.leaders;
    let rows_all = l.shown();
    let title = l.filter.title("Leaders");
    let block = pane_block(&title, &l.state, Some(rows_all.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows_all.is_empty() {
        state_body(frame, inner, &l.state, theme, now);
        return;
    }
    let height = usize::from(inner.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Leaders.index()];
    let off = scroll_offset(sel, height, rows_all.len());
    let rows = rows_all
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, r)| {
            let dur = r.duration_s.unwrap_or(15).max(1);
            let renew = r.renew_age(now);
            let style = if r.holder.is_empty() || renew.is_some_and(|a| a > dur) {
                theme.critical()
            } else if renew.is_some_and(|a| a * 3 > dur * 2) {
                theme.warning()
            } else {
                theme.ok()
            };
            let node_ready = r
                .holder_node()
                .and_then(|n| model.nodes.get(n))
                .and_then(|n| n.ready);
            let node = match (r.holder_node(), node_ready) {
                (Some(n), Some(false)) => format!("{n} (NotReady)"),
                (Some(n), _) => n.to_string(),
                (None, _) => "-".into(),
            };
            let changes = l
                .changes
                .get(&format!("{}/{}", r.namespace, r.name))
                .map(Vec::len)
                .unwrap_or(0);
            let mut name = format!("{}/{}", r.namespace, r.name);
            if r.source == LeaderSource::Annotation {
                name.push_str(" (annotation)");
            }
            let row = Row::new(vec![
                Span::raw(name),
                Span::styled(
                    if r.holder.is_empty() {
                        "<none>".to_string()
                    } else {
                        r.holder.clone()
                    },
                    style,
                ),
                Span::raw(node),
                Span::styled(
                    format!(
                        "{}/{dur}s",
                        renew.map(|a| format!("{a}s")).unwrap_or_else(|| "-".into())
                    ),
                    style,
                ),
                Span::raw(format!(
                    "{}{}",
                    r.transitions
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "-".into()),
                    if changes > 0 {
                        format!(" (+{changes} seen)")
                    } else {
                        String::new()
                    }
                )),
                Span::raw(r.acquire.map(|t| age(now, t)).unwrap_or_default()),
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
            Constraint::Min(24),
            Constraint::Min(16),
            Constraint::Length(16),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(6),
        ],
    )
    .header(
        Row::new(vec![
            "LEASE",
            "HOLDER",
            "NODE",
            "RENEW",
            "TRANSITIONS",
            "HELD",
        ])
        .style(theme.header()),
    );
    frame.render_widget(table, inner);
}
