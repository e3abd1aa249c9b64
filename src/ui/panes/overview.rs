//! Overview: every finding, root causes first with the findings they explain under them, each with
//! a one-line why and the keys that reach its pane and action; the cluster's distribution, version
//! and node count; each source's freshness.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::{pane_block, scroll_offset};
use crate::action::Action;
use crate::diagnose::Finding;
use crate::model::store::age;
use crate::model::{Model, PaneId, SourceState};
use crate::ui::{Theme, fit_headline, truncate};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let state = &model.api.state;
    let title = model.overview_filter.title("Overview");
    let block = pane_block(&title, state, Some(model.findings.len()), theme, now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let all = model.sources();
    // every source when they fit in a third of the pane; otherwise a one-line tally and only the
    // sources that are not ok, so the findings keep the room. An opt-in source that is off (etcd
    // exec) is neither: the tally leaves it out.
    let budget = usize::from(inner.height / 3).max(2);
    let (sources, tally): (Vec<_>, Option<String>) = if all.len() < budget {
        (all, None)
    } else {
        let counted: Vec<_> = all
            .into_iter()
            .filter(|(id, s)| !(id.is_opt_in() && matches!(s, SourceState::NotConfigured { .. })))
            .collect();
        let ok = counted.iter().filter(|(_, s)| s.is_ok()).count();
        let not_ok: Vec<_> = counted
            .iter()
            .filter(|(_, s)| !s.is_ok())
            .cloned()
            .collect();
        let shown = not_ok.len().min(budget.saturating_sub(2));
        let more = not_ok.len() - shown;
        let mut t = format!("sources: {ok} of {} ok", counted.len());
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

    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            truncate(&summary_line(model), usize::from(summary.width)),
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
        draw_findings(frame, findings, model, theme);
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

/// `cluster URL · v1.28.9+rke2r1 · RKE2 · 5 nodes (1 not ready) · context X`.
pub fn summary_line(model: &Model) -> String {
    let (Some(c), Some(s)) = (&model.cluster.context, &model.cluster.server) else {
        return "no Kubernetes cluster configured".to_string();
    };
    let version = model.api.version.as_deref().unwrap_or("version unknown");
    let dist = crate::etcd::runbook::detect(model).platform;
    let dist = match dist {
        crate::etcd::runbook::Platform::Unknown => "other",
        p => p.name(),
    };
    let nodes = model.nodes.store.len();
    let not_ready = model
        .nodes
        .store
        .iter()
        .filter(|n| n.ready == Some(false))
        .count();
    let nodes = if nodes == 0 && !model.nodes.state.is_ok() {
        "nodes unknown".to_string()
    } else if not_ready > 0 {
        format!("{nodes} nodes ({not_ready} not ready)")
    } else {
        format!("{nodes} nodes")
    };
    format!("{version} · {dist} · {nodes} · context {c} · {s}")
}

/// Keys that reach a finding: its pane's key, then its action's key where one exists (`7→p`).
pub fn keys_for(model: &Model, f: &Finding) -> String {
    let pane = PaneId::from_name(&f.pane).unwrap_or(PaneId::Overview);
    let mut k = model
        .keymap
        .key_for(Action::Pane(pane), pane)
        .unwrap_or_default();
    if let Some(a) = f.fix.action.as_deref().and_then(Action::from_name)
        && let Some(ak) = model.keymap.key_for(a, pane)
    {
        k.push_str(&format!("→{ak}"));
    }
    k
}

fn draw_findings(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let order = model.overview_rows();
    let height = usize::from(area.height.saturating_sub(1));
    let sel = model.ui.selected[PaneId::Overview.index()];
    let off = scroll_offset(sel, height, order.len());
    // the why column only where it has room
    let wide = area.width >= 120;
    let (widths, header) = if wide {
        (
            vec![
                Constraint::Length(9),
                Constraint::Percentage(50),
                Constraint::Min(20),
                Constraint::Length(9),
            ],
            vec!["SEVERITY", "FINDING (root causes first)", "WHY", "KEYS"],
        )
    } else {
        (
            vec![
                Constraint::Length(9),
                Constraint::Min(20),
                Constraint::Length(9),
            ],
            vec!["SEVERITY", "FINDING (causes first)", "KEYS"],
        )
    };
    // the finding column's width as the table lays it out (one column of spacing, from the left)
    let title_width = Layout::horizontal(widths.clone())
        .flex(ratatui::layout::Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, area.width, 1))[1]
        .width;
    let rows = order
        .iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(row, (i, depth))| {
            let f = &model.findings[*i];
            let style = if row == sel {
                theme.selected()
            } else {
                Default::default()
            };
            let indent = if *depth == 0 {
                String::new()
            } else {
                format!("{}└ ", "  ".repeat(depth - 1))
            };
            // the headline stays whole; only the detail after its colon gives way
            let room = usize::from(title_width).saturating_sub(indent.chars().count());
            let title = format!("{indent}{}", fit_headline(&f.title, room));
            let mut cells = vec![
                Span::styled(f.severity.name(), theme.severity(f.severity)),
                Span::raw(title),
            ];
            if wide {
                let why = f.evidence.first().cloned().unwrap_or_default();
                cells.push(Span::styled(why, theme.muted()));
            }
            cells.push(Span::raw(keys_for(model, f)));
            Row::new(cells).style(style)
        });
    let table = Table::new(rows, widths).header(Row::new(header).style(theme.header()));
    frame.render_widget(table, area);
}
