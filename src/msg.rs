//! Inputs to `update`: terminal input, ticks, source data and action outcomes.

use crossterm::event::KeyEvent;

use crate::model::etcd::EtcdMsg;
use crate::model::events::EventRow;
use crate::model::leaders::LeaseRow;
use crate::model::namespaces::{NsMsg, NsRow};
use crate::model::nodes::NodeRow;
use crate::model::top::{MetricsSnapshot, PodRow, RsRow};
use crate::model::webhooks::WebhooksMsg;
use crate::model::{Delta, Failure, SourceId};
use crate::mutation::Outcome;

/// Serialized by the flight recorder (`record`): what the sources deliver. Terminal input, the
/// loop's own ticks and the views' streams are never recorded (`skip`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    #[serde(skip)]
    Key(KeyEvent),
    #[serde(skip)]
    Resize(u16, u16),
    /// Once a second: ages and staleness move on.
    Tick,
    /// The API server answered `/version`.
    ApiUp {
        version: String,
    },
    /// What a source reads is not installed in this cluster (e.g. metrics.k8s.io not served): the
    /// source shows "not configured" with the reason, not an error.
    SourceAbsent(SourceId, String),
    /// A source failed (the source keeps retrying with backoff).
    SourceFailed(SourceId, Failure),
    Namespaces(Delta<NsRow>),
    /// The etcd probe and the etcd pods, logs and readyz sources.
    Etcd(Box<EtcdMsg>),
    Nodes(Delta<NodeRow>),
    Leases(Delta<LeaseRow>),
    Events(Delta<EventRow>),
    /// Which events API the events source uses (`events.k8s.io/v1` or `v1`).
    EventsApi(String),
    Pods(Delta<PodRow>),
    ReplicaSets(Delta<RsRow>),
    /// The certificates probe (API server serving certificate and the chain it presents, etcd client
    /// certificate).
    Certs(crate::certs::CertsModel),
    /// The kubeconfig's contexts for the switcher, or why they cannot be read.
    #[serde(skip)]
    Contexts(Result<Vec<String>, String>),
    /// The TUI's incident snapshot was written (its path) or not (why).
    #[serde(skip)]
    SnapshotWritten(Result<String, String>),
    /// `kube-root-ca.crt` of each namespace (watched).
    RootCa(crate::model::Delta<crate::model::root_ca::RootCaRow>),
    /// Signature lines of crash-looping system containers' previous logs, by `namespace/pod/container`.
    CrashLogs(std::collections::BTreeMap<String, Vec<String>>),
    /// One metrics.k8s.io poll (pods and nodes).
    Metrics(MetricsSnapshot),
    /// APIServices and namespace content (Namespaces pane).
    NsPane(NsMsg),
    Webhooks(WebhooksMsg),
    /// The executor finished an action.
    #[serde(skip)]
    ActionDone(Box<Outcome>),
    /// A batch of log lines of the view stream `id`.
    #[serde(skip)]
    ViewLines {
        id: u64,
        lines: Vec<String>,
    },
    /// The object of the YAML/describe view `id`.
    #[serde(skip)]
    ViewObject {
        id: u64,
        object: serde_json::Value,
    },
    /// The view stream `id` ended, with an error or not.
    #[serde(skip)]
    ViewEnded {
        id: u64,
        error: Option<String>,
    },
}
