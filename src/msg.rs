//! Inputs to `update`: terminal input, ticks, source data and action outcomes.

use crossterm::event::KeyEvent;

use crate::kube::executor::Outcome;
use crate::model::namespaces::{NsMsg, NsRow};
use crate::model::webhooks::WebhooksMsg;
use crate::model::{Delta, Failure, SourceId};

#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// Once a second: ages and staleness move on.
    Tick,
    /// The API server answered `/version`.
    ApiUp {
        version: String,
    },
    /// A source failed (the source keeps retrying with backoff).
    SourceFailed(SourceId, Failure),
    Namespaces(Delta<NsRow>),
    /// APIServices and namespace content (Namespaces pane).
    NsPane(NsMsg),
    Webhooks(WebhooksMsg),
    /// The executor finished an action.
    ActionDone(Box<Outcome>),
}
