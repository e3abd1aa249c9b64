//! The panes: one module per pane, each with a [`Pane`] value `PANE`, and the registry that finds a
//! pane by its id. The registry is generated from the list in `shared::pane::panes!` (one line per
//! pane), so a new pane is its own files plus that line.
//!
//! A pane draws inside the frame every pane shares (the title carries the state and the count; a
//! pane with nothing to show says why), with the one table component (`ui::table`) for its rows.

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use serde_json::{Map, Value, json};

use super::Theme;
use crate::derived::Derived;
use crate::model::filter::TableFilter;
use crate::model::{FailureKind, Model, PaneId, SourceState};
use crate::mutation::Mutation;
use crate::shared::action::Action;
use crate::shared::keymap::Scope;
use crate::text::age;

/// Report rows, made as they are written.
pub type ReportRows<'m> = Box<dyn Iterator<Item = Value> + 'm>;

/// What a frame of a pane is drawn from.
pub struct Cx<'a> {
    pub model: &'a Model,
    pub derived: &'a Derived,
    pub theme: &'a Theme,
    pub now: DateTime<Utc>,
}

/// A write a pane key proposes for the confirm dialog, with what the object looks like now.
pub struct Proposal {
    pub mutation: Mutation,
    pub current: Option<String>,
}

impl From<Mutation> for Proposal {
    fn from(mutation: Mutation) -> Proposal {
        Proposal {
            mutation,
            current: None,
        }
    }
}

/// One pane: what its frame shows, how many rows its selection moves over, its `/` filter, its
/// keys, its body and its rows in the report.
pub trait Pane: Sync {
    fn id(&self) -> PaneId;

    /// The state the title and an empty body show.
    fn state<'m>(&self, model: &'m Model) -> &'m SourceState;

    /// Rows the selection moves over.
    fn row_count(&self, model: &Model, derived: &Derived) -> usize;

    /// The `/` filter over the rows, where the pane has one.
    fn filter<'m>(&self, _model: &'m Model) -> Option<&'m TableFilter> {
        None
    }

    /// The same filter, to edit.
    fn filter_mut<'m>(&self, _model: &'m mut Model) -> Option<&'m mut TableFilter> {
        None
    }

    /// The title: the pane's, with its filter while one is set.
    fn title(&self, model: &Model) -> String {
        let title = self.id().title();
        self.filter(model)
            .map_or_else(|| title.to_string(), |f| f.title(title))
    }

    /// The count in the title.
    fn count(&self, model: &Model, derived: &Derived) -> Option<usize> {
        Some(self.row_count(model, derived))
    }

    /// Nothing to show yet: the body says why (the state) instead.
    fn is_empty(&self, model: &Model, derived: &Derived) -> bool {
        self.row_count(model, derived) == 0
    }

    /// The body inside the pane's frame.
    fn body(&self, frame: &mut Frame, area: Rect, cx: &Cx);

    /// `/` pressed: start editing the filter. False when the pane has none.
    fn open_filter(&self, model: &mut Model) -> bool {
        self.filter_mut(model).map(|f| f.editing = true).is_some()
    }

    /// A key while the filter is edited: true when it was consumed.
    fn edit_filter(&self, model: &mut Model, ev: &KeyEvent) -> bool {
        self.filter_mut(model).is_some_and(|f| f.edit(ev))
    }

    /// A pane key that changes only what the pane shows (sort, grouping, warnings only): true when
    /// it was this pane's.
    fn view_action(&self, _model: &mut Model, _action: Action) -> bool {
        false
    }

    /// The write a pane key proposes for the selected row, or why there is none; `None` when the
    /// key is not this pane's.
    fn propose(
        &self,
        _model: &Model,
        _derived: &Derived,
        _action: Action,
        _now: DateTime<Utc>,
    ) -> Option<Result<Proposal, String>> {
        None
    }

    /// The report's `panes.<name>`: adds the rows (`rows`, once synced) and whatever else the pane
    /// reports to the pane's state.
    fn report(&self, _model: &Model, _now: DateTime<Utc>, _out: &mut Map<String, Value>) {}

    /// The report's `panes.<name>.rows` when there is one per object (pods, nodes, event groups),
    /// made one at a time as the report is written; `None` (the default): not synced, or the
    /// pane's rows, if any, are in [`Pane::report`].
    fn report_rows<'m>(&self, _model: &'m Model, _now: DateTime<Utc>) -> Option<ReportRows<'m>> {
        None
    }

    /// The whole pane: the frame with the title, the state and the count, then the body (or why
    /// there is nothing to show).
    fn draw(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let (model, derived) = (cx.model, cx.derived);
        let state = self.state(model);
        let title = self.title(model);
        let block = pane_block(&title, state, self.count(model, derived), cx.theme, cx.now);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if self.is_empty(model, derived) {
            state_body(frame, inner, state, cx.theme, cx.now);
        } else {
            self.body(frame, inner, cx);
        }
    }
}

/// A pane's `filter` and `filter_mut`: the `TableFilter` at this path of the model
/// (`filter_at!(leaders.filter);` in the pane's `impl Pane`).
macro_rules! filter_at {
    ($($path:ident).+) => {
        fn filter<'m>(
            &self,
            model: &'m crate::model::Model,
        ) -> Option<&'m crate::model::filter::TableFilter> {
            Some(&model.$($path).+)
        }

        fn filter_mut<'m>(
            &self,
            model: &'m mut crate::model::Model,
        ) -> Option<&'m mut crate::model::filter::TableFilter> {
            Some(&mut model.$($path).+)
        }
    };
}
macro_rules! registry {
    ($($id:ident $module:ident $title:literal,)*) => {
        $(pub mod $module;)*

        /// The pane with this id.
        pub fn pane(id: PaneId) -> &'static dyn Pane {
            match id {
                $(PaneId::$id => &$module::PANE,)*
            }
        }
    };
}
crate::shared::pane::panes!(registry);

/// The active pane.
pub fn draw(frame: &mut Frame, area: Rect, cx: &Cx) {
    pane(cx.model.ui.active).draw(frame, area, cx);
}

impl Model {
    /// Number of selectable rows in a pane, counted afresh (the loop asks the pane itself, with its
    /// derived data).
    pub fn row_count(&self, id: PaneId) -> usize {
        pane(id).row_count(self, &Derived::default())
    }
}

/// A time in the report (RFC 3339, seconds).
pub fn ts(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
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

/// `f: next fix step   F: …` from the keymap (keys are data); empty in read-only mode.
pub fn hint(model: &Model, pane: PaneId, actions: &[(Action, &str)]) -> String {
    if model.cluster.read_only {
        return String::new();
    }
    actions
        .iter()
        .filter_map(|(a, what)| {
            model
                .keymap
                .bindings
                .iter()
                .find(|b| b.action == *a && b.scope == Scope::Pane(pane))
                .map(|b| format!("{}: {what}", b.key))
        })
        .collect::<Vec<_>>()
        .join("   ")
}
