//! The etcd pane's log part: the etcd pods' log signature groups (count, rate, last seen, what each
//! means, with the section of the Rancher troubleshooting guide it comes from), and the one-line
//! summary for small screens.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::etcd::logs;
use crate::text::age;
use crate::model::{Model, SourceState};
use crate::ui::Theme;

/// One line for small screens: the busiest log signature.
pub fn log_summary(model: &Model, now: DateTime<Utc>) -> Option<String> {
    let sigs = logs::signatures();
    let (pod, g) = model
        .etcd
        .logs
        .iter()
        .flat_map(|(pod, gs)| gs.groups.iter().map(move |g| (pod, g)))
        .max_by(|a, b| {
            a.1.rate(now)
                .total_cmp(&b.1.rate(now))
                .then(a.1.count.cmp(&b.1.count))
        })?;
    let title = sigs
        .iter()
        .find(|s| s.id == g.id)
        .map_or(g.id.as_str(), |s| s.title.as_str());
    Some(format!(
        "logs: {title} {}× {:.1}/s in {pod} (wider screen: all groups and meanings)",
        g.count,
        g.rate(now)
    ))
}

pub fn log_groups(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let sigs = logs::signatures();
    let mut lines: Vec<Line> = Vec::new();
    for (pod, groups) in &model.etcd.logs {
        lines.push(Line::from(Span::styled(
            format!(
                "{pod}: {} lines, {} unmatched",
                groups.lines, groups.unmatched
            ),
            theme.muted(),
        )));
        for g in &groups.groups {
            let title = sigs
                .iter()
                .find(|s| s.id == g.id)
                .map_or(g.id.as_str(), |s| s.title.as_str());
            lines.push(Line::from(format!(
                "  {:>6}× {:>5.1}/s last {} ago  {title}",
                g.count,
                g.rate(now),
                g.last.map(|t| age(now, t)).unwrap_or_else(|| "-".into())
            )));
            if let Some(s) = sigs.iter().find(|s| s.id == g.id) {
                lines.push(Line::from(Span::styled(
                    format!(
                        "          {} (see \"{}\" in the Rancher troubleshooting guide)",
                        s.meaning, s.section
                    ),
                    theme.muted(),
                )));
            }
        }
    }
    for (pod, f) in &model.etcd.log_errors {
        lines.push(Line::from(Span::styled(
            format!("{pod}: logs: {}", f.message),
            theme.warning(),
        )));
    }
    if lines.is_empty() {
        let why = match &model.etcd.pods_state {
            SourceState::NotConfigured { .. } => {
                "etcd pod logs need the Kubernetes API (no kubeconfig)"
            }
            _ => "no etcd pod logs (RKE1 runs etcd outside pods: `docker logs etcd` on the node)",
        };
        lines.push(Line::from(Span::styled(why, theme.muted())));
    }
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(" log signatures ", theme.header()));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}
