//! Timeline: the incident's memory, newest first — findings found, changed and resolved, this
//! console's actions and their outcomes, other consoles' actions, source outages. `/` filters;
//! `enter` jumps to the pane of the selected entry's finding.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use serde_json::{Map, Value, json};

use super::{Cx, Pane, ts};
use crate::derived::Derived;
use crate::model::timeline::{Entry, Kind};
use crate::model::{Model, PaneId, SourceState};
use crate::shared::action::Action;
use crate::text::age;
use crate::ui::table::{Column, Table};

pub struct Timeline;
pub const PANE: Timeline = Timeline;

impl Pane for Timeline {
    fn id(&self) -> PaneId {
        PaneId::Timeline
    }

    /// The timeline is this console's own record: its state is the API server's (what feeds it).
    fn state<'m>(&self, model: &'m Model) -> &'m SourceState {
        &model.api.state
    }

    fn row_count(&self, model: &Model, _: &Derived) -> usize {
        model.timeline.rows().len()
    }

    filter_at!(timeline.filter);

    /// `enter`: the selected entry's pane (a finding's), where there is one.
    fn view_action(&self, model: &mut Model, action: Action) -> bool {
        if action != Action::Jump {
            return false;
        }
        let sel = model.ui.selected[PaneId::Timeline.index()];
        let pane = model
            .timeline
            .rows()
            .get(sel)
            .and_then(|e| e.pane.as_deref())
            .and_then(PaneId::from_name);
        match pane {
            Some(p) => model.ui.active = p,
            None => {
                model.notice = Some(crate::model::Notice {
                    text: "this entry has no pane: it is an action or a source's state".into(),
                    level: crate::model::NoticeLevel::Info,
                    // stamped with the loop's clock by `update` (a pane reads none)
                    at: model.started_at,
                })
            }
        }
        true
    }

    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let rows = cx.model.timeline.rows();
        let sel = cx.model.ui.selected[PaneId::Timeline.index()];
        table(cx).draw_slice(frame, area, &rows, Some(sel), cx.theme);
    }

    fn report(&self, model: &Model, _now: DateTime<Utc>, out: &mut Map<String, Value>) {
        out.insert("rows".into(), json!(model.timeline.len()));
        out.insert(
            "entries".into(),
            Value::Array(model.timeline.entries().map(entry_json).collect()),
        );
    }
}

/// One entry in the report and the incident snapshot.
pub fn entry_json(e: &Entry) -> Value {
    json!({
        "at": ts(Some(e.at)),
        "kind": e.kind,
        "severity": e.severity,
        "text": e.text,
        "pane": e.pane,
        "key": e.key,
    })
}

fn table<'a>(cx: &'a Cx) -> Table<'a, &'a Entry> {
    let (theme, now) = (cx.theme, cx.now);
    Table::new(vec![
        Column::new("TIME (UTC)", Constraint::Length(10), |e: &&Entry| {
            Span::raw(e.at.format("%H:%M:%S").to_string())
        }),
        Column::new("AGO", Constraint::Length(6), move |e: &&Entry| {
            Span::styled(age(now, e.at), theme.muted())
        }),
        Column::new("WHAT", Constraint::Length(19), move |e: &&Entry| {
            let what = match e.severity {
                Some(s) => format!("{} {}", e.kind.name(), s.name()),
                None => e.kind.name().to_string(),
            };
            let style = match (e.kind, e.severity) {
                (Kind::Resolved | Kind::Recovered, _) => theme.ok(),
                (_, Some(s)) => theme.severity(s),
                (Kind::Outage | Kind::Other, None) => theme.warning(),
                _ => theme.muted(),
            };
            Span::styled(what, style)
        }),
        Column::new("WHAT HAPPENED", Constraint::Min(20), |e: &&Entry| {
            Span::raw(e.text.clone())
        }),
    ])
}
