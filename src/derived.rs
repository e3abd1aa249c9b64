//! Data derived from the model, owned by the event loop beside its `Model` (never inside it:
//! cloning or comparing a model touches none of it): the rules' memo of per-pod findings, the Top
//! pane's row order, the etcd recovery runbook and the rows' colours of the current findings. Each
//! is rebuilt only when what it depends on changed, at points the loop chooses (after an
//! evaluation, after a key, before a frame); none reads the clock (the loop passes its own).
//!
//! Without the loop (tests, the report, one-off frames) [`Derived::of`] derives everything afresh;
//! the answers are the same, only slower on a large cluster.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::diagnose::Memo;
use crate::diagnose::runbook::{self, Runbook};
use crate::model::top::TopOrder;
use crate::model::{Model, PaneId};
use crate::shared::finding::Severities;

#[derive(Debug, Default)]
pub struct Derived {
    /// Per-pod rule results reused while their inputs are unchanged (`diagnose::evaluate_with`).
    pub rules: Memo,
    /// The Top pane's rows in display order.
    pub top: TopOrder,
    /// The etcd recovery runbook for the findings of the last evaluation (`None`: no recovery
    /// needed), built once per evaluation, not per frame.
    pub runbook: Option<Runbook>,
    /// The worst finding about each object, for the rows' colours (rebuilt before the first frame
    /// after an evaluation: an evaluation that no frame shows costs nothing here).
    pub severities: Severities,
    /// The findings changed since `severities` was built.
    severities_stale: bool,
}

impl Derived {
    /// Everything derived afresh from `model` (the Top order only while that pane is on screen).
    pub fn of(model: &Model, now: DateTime<Utc>) -> Derived {
        let mut d = Derived {
            runbook: runbook::build(model, now),
            severities: Severities::of(&model.findings),
            ..Derived::default()
        };
        if model.ui.active == PaneId::Top {
            d.top.build(&model.top);
        }
        d
    }

    /// After the rules ran: the runbook of the new findings (a key may copy it before the next
    /// frame); the rows' colours follow before that frame.
    pub fn findings_changed(&mut self, model: &Model, now: DateTime<Utc>) {
        self.runbook = runbook::build(model, now);
        self.severities_stale = true;
    }

    /// Before a frame: the rows' colours of the current findings, and the Top pane's order while
    /// that pane is on screen (paced under pod churn by the loop's `clock`; another pane never pays
    /// for it).
    pub fn before_frame(&mut self, model: &Model, clock: impl Fn() -> Instant) {
        if self.severities_stale {
            self.severities = Severities::of(&model.findings);
            self.severities_stale = false;
        }
        if model.ui.active == PaneId::Top {
            self.top.refresh(&model.top, clock);
        }
    }

    /// After a key: a changed sort, grouping or filter is followed at once, so the selection and
    /// the next frame agree on the rows.
    pub fn after_key(&mut self, model: &Model) {
        self.top.follow_view(&model.top);
    }
}
