//! Overview: every finding, root causes first with the findings they explain under them, each with
//! a one-line why and the keys that reach its pane and action; the cluster's distribution, version
//! and node count; each source's freshness.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use serde_json::{Map, Value};

use super::{Cx, Pane};
use crate::derived::Derived;
use crate::diagnose::Finding;
use crate::model::{Model, PaneId, SourceId, SourceState};
use crate::shared::action::Action;
use crate::text::{age, fit_headline, truncate};
use crate::ui::table::{Column, Table, laid_out};

pub struct Overview;
pub const PANE: Overview = Overview;

impl Pane for Overview {
    fn id(&self) -> PaneId {
        PaneId::Overview
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.api.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.overview_rows().len()
    }

    fn count(&self, model: &Model, _: &Derived) -> Option<usize> {
        Some(model.findings.len())
    }

    fn is_empty(&self, _: &Model, _: &Derived) -> bool {
        false
    }

    filter_at!(overview_filter);

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let (model, theme) = (cx.model, cx.theme);
        let (sources, tally) = sources_shown(model, area);
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
        .areas(area);
        if let Some(t) = &tally {
            let text = truncate(t, usize::from(tally_area.width));
            frame.render_widget(Paragraph::new(Span::styled(text, theme.muted())), tally_area);
        }
        let text = truncate(&summary_line(model), usize::from(summary.width));
        frame.render_widget(Paragraph::new(Span::styled(text, theme.muted())), summary);
        if model.findings.is_empty() {
            let text = if model.api.state.is_ok() {
                "No findings from the sources that answer."
            } else {
                "No findings yet: waiting for sources."
            };
            frame.render_widget(Paragraph::new(Span::styled(text, theme.ok())), findings);
        } else {
            draw_findings(frame, findings, cx);
        }
        sources_table(cx).draw_slice(frame, src, &sources, None, theme);
    }

    fn report(&self, model: &Model, _now: DateTime<Utc>, out: &mut Map<String, Value>) {
        out.insert("rows".into(), Value::from(model.findings.len()));
    }
}

/// Every source when they fit in a third of the pane; otherwise a one-line tally and only the
/// sources that are not ok, so the findings keep the room. An opt-in source that is off (etcd
/// exec) is neither: the tally leaves it out.
fn sources_shown(model: &Model, area: Rect) -> (Vec<(SourceId, &SourceState)>, Option<String>) {
    let all = model.sources();
    let budget = usize::from(area.height / 3).max(2);
    if all.len() < budget {
        return (all, None);
    }
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
}

type SourceLine<'a> = (SourceId, &'a SourceState);

fn sources_table<'a>(cx: &'a Cx) -> Table<'a, SourceLine<'a>> {
    let (theme, now) = (cx.theme, cx.now);
    Table::new(vec![
        Column::new("SOURCE", Constraint::Length(17), |(id, _): &SourceLine| {
            Span::raw(id.name())
        }),
        Column::new("STATE", Constraint::Length(24), move |(_, st): &SourceLine| {
            Span::styled(st.label(now), theme.state(st))
        }),
        Column::new("LAST OK", Constraint::Length(10), move |(_, st): &SourceLine| {
            Span::raw(
                st.last_ok()
                    .map(|t| format!("{} ago", age(now, t)))
                    .unwrap_or_else(|| "never".into()),
            )
        }),
        Column::new("DETAIL", Constraint::Min(10), move |(_, st): &SourceLine| {
            Span::styled(st.error_text().unwrap_or("").to_string(), theme.muted())
        }),
    ])
}

/// `cluster URL · v1.28.9+rke2r1 · RKE2 · 5 nodes (1 not ready) · context X`.
pub fn summary_line(model: &Model) -> String {
    let (Some(c), Some(s)) = (&model.cluster.context, &model.cluster.server) else {
        return "no Kubernetes cluster configured".to_string();
    };
    let version = model.api.version.as_deref().unwrap_or("version unknown");
    let dist = crate::diagnose::runbook::detect(model).platform;
    let dist = match dist {
        crate::diagnose::runbook::Platform::Unknown => "other",
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

/// A finding in the Overview's order: its index and its depth under its cause.
type FindingLine = (usize, usize);

/// The findings, root causes first with what they explain under them; the why column only where it
/// has room.
fn draw_findings(frame: &mut Frame, area: Rect, cx: &Cx) {
    let model = cx.model;
    let order = model.overview_rows();
    let sel = model.ui.selected[PaneId::Overview.index()];
    findings_table(cx, area.width).draw_slice(frame, area, &order, Some(sel), cx.theme);
}

fn findings_table<'a>(cx: &'a Cx, width: u16) -> Table<'a, FindingLine> {
    let (model, theme) = (cx.model, cx.theme);
    // the why column only where it has room
    let wide = width >= 120;
    let widths = if wide {
        vec![
            Constraint::Length(9),
            Constraint::Percentage(50),
            Constraint::Min(20),
            Constraint::Length(9),
        ]
    } else {
        vec![
            Constraint::Length(9),
            Constraint::Min(20),
            Constraint::Length(9),
        ]
    };
    let title_width = usize::from(laid_out(&widths, width)[1]);
    let severity = Column::new("SEVERITY", widths[0], move |(i, _): &FindingLine| {
        let f = &model.findings[*i];
        Span::styled(f.severity.name(), theme.severity(f.severity))
    });
    // the headline stays whole; only the detail after its colon gives way
    let title = move |(i, depth): &FindingLine| {
        let f = &model.findings[*i];
        let indent = if *depth == 0 {
            String::new()
        } else {
            format!("{}└ ", "  ".repeat(depth - 1))
        };
        let room = title_width.saturating_sub(indent.chars().count());
        Span::raw(format!("{indent}{}", fit_headline(&f.title, room)))
    };
    let keys = Column::new("KEYS", widths[widths.len() - 1], move |(i, _): &FindingLine| {
        Span::raw(keys_for(model, &model.findings[*i]))
    });
    let columns = if wide {
        vec![
            severity,
            Column::new("FINDING (root causes first)", widths[1], title),
            Column::new("WHY", widths[2], move |(i, _): &FindingLine| {
                let why = model.findings[*i].evidence.first().cloned().unwrap_or_default();
                Span::styled(why, theme.muted())
            }),
            keys,
        ]
    } else {
        vec![
            severity,
            Column::new("FINDING (causes first)", widths[1], title),
            keys,
        ]
    };
    Table::new(columns)
}
