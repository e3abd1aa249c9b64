//! Overview: every finding, worst first, and each source's freshness.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{pane_block, scroll_offset};
use crate::model::Model;
use crate::model::store::age;
use crate::ui::{Theme, truncate};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let state = &model.api.state;
    let block = pane_block("Overview", state, Some(model.findings.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let all = model.sources();
    // every source when they fit in a third of the pane; otherwise a one-line tally and only the
    // sources that are not ok, so the findings keep the room
    let budget = usize::from(inner.height / 3).max(2);
    let (sources, tally): (Vec<_>, Option<String>) = if all.len() < budget {
        (all, None)
    } else {
        let ok = all.iter().filter(|(_, s)| s.is_ok()).count();
        let not_ok: Vec<_> = all.iter().filter(|(_, s)| !s.is_ok()).cloned().collect();
        let shown = not_ok.len().min(budget.saturating_sub(2));
        let more = not_ok.len() - shown;
        let mut t = format!("sources: {ok} of {} ok", all.len());
        if !not_ok.is_empty() {
            t.push_str(&format!("; {} not ok", not_ok.len()));
            if more > 0 {
                t.push_str(&format!(" ({more} more not shown)"));
            }
        }
        (not_ok.into_iter().take(shown).collect(), Some(t))
    };
    let table_rows = if sources.is_empty() {
        0
    } else {
        sources.len() as u16 + 1
    };
    let [summary, findings, tally_area, src] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(u16::from(tally.is_some())),
        Constraint::Length(table_rows),
    ])
    .areas(inner);
    if let Some(t) = &tally {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                truncate(t, usize::from(tally_area.width)),
                theme.muted(),
            ))),
            tally_area,
        );
    }

    let version = model.api.version.as_deref().unwrap_or("version unknown");
    let cluster = match (&model.cluster.context, &model.cluster.server) {
        (Some(c), Some(s)) => format!("cluster {s} · {version} · context {c}"),
        _ => "no Kubernetes cluster configured".to_string(),
    };
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            truncate(&cluster, usize::from(summary.width)),
            theme.muted(),
        ))),
        summary,
    );

    if model.findings.is_empty() {
        let text = if state.is_ok() {
            "No findings from the sources that answer."
        } else {
            "No findings yet: waiting for sources."
        };
        frame.render_widget(Paragraph::new(Span::styled(text, theme.ok())), findings);
    } else {
        let height = usize::from(findings.height.saturating_sub(1));
        let sel = model.ui.selected[crate::model::PaneId::Overview.index()];
        let off = scroll_offset(sel, height, model.findings.len());
        let rows = model
            .findings
            .iter()
            .enumerate()
            .skip(off)
            .take(height)
            .map(|(i, f)| {
                let style = if i == sel {
                    theme.selected()
                } else {
                    Default::default()
                };
                Row::new(vec![
                    Span::styled(f.severity.name(), theme.severity(f.severity)),
                    Span::raw(f.title.clone()),
                    Span::raw(f.pane.clone()),
                ])
                .style(style)
            });
        let table = Table::new(
            rows,
            [
                Constraint::Length(9),
                Constraint::Min(20),
                Constraint::Length(11),
            ],
        )
        .header(Row::new(vec!["SEVERITY", "FINDING", "PANE"]).style(theme.header()));
        frame.render_widget(table, findings);
    }

    let rows = sources.iter().map(|(id, st)| {
        let last = st
            .last_ok()
            .map(|t| format!("{} ago", age(now, t)))
            .unwrap_or_else(|| "never".into());
        Row::new(vec![
            Span::raw(id.name()),
            Span::styled(st.label(now), theme.state(st)),
            Span::raw(last),
            Span::styled(st.error_text().unwrap_or("").to_string(), theme.muted()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(17),
            Constraint::Length(24),
            Constraint::Length(10),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["SOURCE", "STATE", "LAST OK", "DETAIL"]).style(theme.header()));
    frame.render_widget(table, src);
}
