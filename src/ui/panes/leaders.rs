//! Leaders: holder, its node, renew age against the lease duration, transitions, acquire time. A
//! lease's holder and renew age take the colour of the worst finding about that lease.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use serde_json::{Map, Value, json};

use super::{Cx, Pane, ts};
use crate::derived::Derived;
use crate::model::leaders::{LeaderSource, LeaseRow};
use crate::model::{Model, PaneId, SourceState};
use crate::shared::finding::Severities;
use crate::text::age;
use crate::ui::table::{Column, Table};

pub struct Leaders;
pub const PANE: Leaders = Leaders;

impl Pane for Leaders {
    fn id(&self) -> PaneId {
        PaneId::Leaders
    }

    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.leaders.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.leaders.shown().len()
    }

    filter_at!(leaders.filter);

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let rows = cx.model.leaders.shown();
        let sel = cx.model.ui.selected[PaneId::Leaders.index()];
        let severities = &cx.derived.severities;
        table(cx, severities).draw_slice(frame, area, &rows, Some(sel), cx.theme);
    }

    fn report(&self, model: &Model, now: DateTime<Utc>, out: &mut Map<String, Value>) {
        if !model.leaders.store.synced {
            return;
        }
        let rows = model.leaders.rows().into_iter().map(|l| {
            json!({
                "namespace": l.namespace,
                "name": l.name,
                "holder": l.holder,
                "node": l.holder_node(),
                "lease_duration_s": l.duration_s,
                "renew_age_s": l.renew_age(now),
                "acquire_time": ts(l.acquire),
                "transitions": l.transitions,
                "changes_seen": model.leaders.changes.get(&format!("{}/{}", l.namespace, l.name)).map(Vec::len).unwrap_or(0),
            })
        });
        out.insert("rows".into(), Value::Array(rows.collect()));
    }
}

/// The lease table; the holder and the renew age take the colour of the lease's worst finding.
fn table<'a>(cx: &'a Cx, severities: &'a Severities) -> Table<'a, &'a LeaseRow> {
    let (model, theme, now) = (cx.model, cx.theme, cx.now);
    let style = move |r: &LeaseRow| {
        let worst = severities.of_object("Lease", Some(&r.namespace), &r.name, None);
        theme.finding(worst)
    };
    Table::new(vec![
        Column::new("LEASE", Constraint::Min(24), |r: &&LeaseRow| {
            let mut name = format!("{}/{}", r.namespace, r.name);
            if r.source == LeaderSource::Annotation {
                name.push_str(" (annotation)");
            }
            Span::raw(name)
        }),
        Column::new("HOLDER", Constraint::Min(16), move |r: &&LeaseRow| {
            let holder = if r.holder.is_empty() {
                "<none>".to_string()
            } else {
                r.holder.clone()
            };
            Span::styled(holder, style(r))
        }),
        Column::new("NODE", Constraint::Length(16), move |r: &&LeaseRow| {
            let ready = r
                .holder_node()
                .and_then(|n| model.nodes.get(n))
                .and_then(|n| n.ready);
            Span::raw(match (r.holder_node(), ready) {
                (Some(n), Some(false)) => format!("{n} (NotReady)"),
                (Some(n), _) => n.to_string(),
                (None, _) => "-".into(),
            })
        }),
        Column::new("RENEW", Constraint::Length(9), move |r: &&LeaseRow| {
            let dur = r.duration_s.unwrap_or(15).max(1);
            let renew = r.renew.map(|t| age(now, t)).unwrap_or_else(|| "-".into());
            Span::styled(format!("{renew}/{dur}s"), style(r))
        }),
        Column::new("TRANSITIONS", Constraint::Length(12), move |r: &&LeaseRow| {
            let changes = model
                .leaders
                .changes
                .get(&format!("{}/{}", r.namespace, r.name))
                .map(Vec::len)
                .unwrap_or(0);
            let transitions = r
                .transitions
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into());
            Span::raw(if changes > 0 {
                format!("{transitions} (+{changes} seen)")
            } else {
                transitions
            })
        }),
        Column::new("HELD", Constraint::Length(6), move |r: &&LeaseRow| {
            Span::raw(r.acquire.map(|t| age(now, t)).unwrap_or_default())
        }),
    ])
}
