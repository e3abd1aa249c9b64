//! Inputs to `update`: terminal input, ticks, source data and action outcomes.

use crossterm::event::KeyEvent;

use crate::kube::executor::Outcome;
use crate::model::etcd::EtcdMsg;
use crate::model::events::EventRow;
use crate::model::leaders::LeaseRow;
use crate::model::namespaces::{NsMsg, NsRow};
use crate::model::nodes::NodeRow;
use crate::model::top::{MetricsSnapshot, PodRow, RsRow};
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
    /// The etcd probe and the etcd pods, logs and readyz sources.
    Etcd(Box<EtcdMsg>),
    Nodes(Delta<NodeRow>),
    Leases(Delta<LeaseRow>),
    Events(Delta<EventRow>),
    /// Which events API the events source uses (`events.k8s.io/v1` or `v1`).
    EventsApi(&'static str),
    Pods(Delta<PodRow>),
    ReplicaSets(Delta<RsRow>),
    /// One metrics.k8s.io poll (pods and nodes).
    Metrics(MetricsSnapshot),
    /// APIServices and namespace content (Namespaces pane).
    NsPane(NsMsg),
    Webhooks(WebhooksMsg),
    /// The executor finished an action.
    ActionDone(Box<Outcome>),
    /// A batch of log lines of the view stream `id`.
    ViewLines {
        id: u64,
        lines: Vec<String>,
    },
    /// The object of the YAML/describe view `id`.
    ViewObject {
        id: u64,
        object: serde_json::Value,
    },
    /// The view stream `id` ended, with an error or not.
    ViewEnded {
        id: u64,
        error: Option<String>,
    },
}
