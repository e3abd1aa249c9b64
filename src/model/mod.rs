//! Pure state. The app loop owns one `Model`; sources never touch it, they send `Msg`s.
//!
//! `Model` is composed of per-pane structs (one file each) plus UI and cluster identity.

pub mod backups;
pub mod pane_actions;
pub mod store;

pub mod etcd;
pub mod events;
pub mod filter;
pub mod leaders;
pub mod namespaces;
pub mod nodes;
pub mod quantity;
pub mod root_ca;
pub mod timeline;
pub mod top;
pub mod view;
pub mod webhooks;

use chrono::{DateTime, Utc};

use crate::mutation::Mutation;
use crate::shared::finding::{Finding, grouped};
use crate::shared::keymap::Keymap;

pub use crate::shared::pane::PaneId;
pub use crate::shared::source::{Failure, FailureKind, SourceId, SourceState};
pub use store::{Delta, Keyed, Store};

/// Who and where we are: shown in the status bar, written into the journal and the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterInfo {
    /// Kubeconfig context name, or `None` when no Kubernetes source is configured.
    pub context: Option<String>,
    /// API server URL.
    pub server: Option<String>,
    /// `-n`: the namespace namespaced panes are scoped to (`None`: all).
    pub namespace: Option<String>,
    /// Kubeconfig user name (the server's view of who we are arrives later).
    pub user: Option<String>,
    pub read_only: bool,
    pub production: bool,
}

/// The API server as the reachability probe sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiState {
    pub state: SourceState,
    /// `gitVersion` from `/version`.
    pub version: Option<String>,
}

/// A pending action waiting for confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub mutation: Mutation,
    /// What the user typed (production contexts require the object's name).
    pub typed: String,
    /// In a production context, the reason a mutation asks for, kept after the first `enter` (then
    /// `typed` takes the object's name).
    pub reason: Option<String>,
    /// What the object looks like now, as far as ktriage knows (`6 pods running`).
    pub current: Option<String>,
    /// Another ktriage user acted on the same object recently: who did what, when.
    pub others: Option<String>,
}

/// A transient line in the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub level: NoticeLevel,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UiState {
    pub active: PaneId,
    pub help: bool,
    /// First help row shown (the overlay scrolls when the keymap is longer than the screen).
    pub help_scroll: usize,
    pub quit: bool,
    /// Selected row per pane.
    pub selected: [usize; PaneId::ALL.len()],
    /// Rows the body can show (set from the last resize) for paging.
    pub page: usize,
    pub size: (u16, u16),
    /// The context switcher, while open.
    pub contexts: Option<ContextPicker>,
    /// A replay's position, speed and state for the status bar (`None`: a live console).
    pub replay: Option<String>,
}

/// The context switcher's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextPicker {
    pub names: Vec<String>,
    pub selected: usize,
}

/// Everything the screen and the report are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub cluster: ClusterInfo,
    pub api: ApiState,
    pub namespaces: namespaces::NamespacesModel,
    pub etcd: etcd::EtcdModel,
    pub leaders: leaders::LeadersModel,
    pub events: events::EventsModel,
    pub top: top::TopModel,
    /// Shared nodes watch (roles, conditions, allocatable) read by the etcd, Leaders, Events and Top
    /// rules.
    pub nodes: nodes::NodesModel,
    pub webhooks: webhooks::WebhooksModel,
    pub findings: Vec<Finding>,
    /// Data changed since `findings` were evaluated (`update::settle` re-evaluates).
    pub findings_stale: bool,
    /// How many times the rules ran (the flight recorder notes each evaluation).
    pub evaluations: u64,
    /// The Overview's `/` filter over the findings (severity, title, pane, id, subject, evidence).
    pub overview_filter: filter::TableFilter,
    pub ui: UiState,
    pub dialog: Option<Dialog>,
    /// The logs / YAML / describe view over the Top pane, when open.
    pub view: Option<view::PodView>,
    /// Counter for view stream ids.
    pub view_seq: u64,
    pub notice: Option<Notice>,
    pub keymap: Keymap,
    /// Config warnings shown once at start.
    pub warnings: Vec<String>,
    pub started_at: DateTime<Utc>,
    /// Rule thresholds (`[leaders]`, `[events]`, `[top]`).
    pub tuning: crate::tuning::Tuning,
    /// The last action of this session that changed something (for Undo).
    pub last_action: Option<LastAction>,
    /// This session's action ids and the objects of its actions still running: a `KtriageAction`
    /// Event about them is this console's own, not another user's.
    pub own_actions: std::collections::BTreeSet<String>,
    pub acting: Vec<crate::mutation::ObjectRef>,
    /// Certificates ktriage depends on (`None` until the first probe answered).
    pub certs: Option<crate::certs::CertsModel>,
    /// The certificate probe's state (loading until its first answer).
    pub certs_state: SourceState,
    /// Every namespace's `kube-root-ca.crt`, and whether it trusts the API server's certificate.
    pub root_ca: root_ca::RootCaModel,
    /// The incident's memory (Timeline pane, incident snapshot, `ktriage timeline`).
    pub timeline: timeline::Timeline,
}

/// An applied action and what the object looked like before it (the journal's `before`).
#[derive(Debug, Clone, PartialEq)]
pub struct LastAction {
    pub id: String,
    pub mutation: Mutation,
    pub before: serde_json::Value,
}

impl Model {
    /// Set the rule thresholds (and the events ring size) from the config.
    pub fn with_tuning(mut self, tuning: crate::tuning::Tuning) -> Model {
        self.events.cap = tuning.events.ring_size.max(1);
        self.tuning = tuning;
        self
    }

    pub fn new(cluster: ClusterInfo, keymap: Keymap, now: DateTime<Utc>) -> Model {
        let kube_state = if cluster.context.is_some() {
            SourceState::Loading { since: now }
        } else {
            SourceState::NotConfigured {
                why: "no kubeconfig found (KUBECONFIG, --kubeconfig or ~/.kube/config)".into(),
            }
        };
        Model {
            api: ApiState {
                state: kube_state.clone(),
                version: None,
            },
            namespaces: namespaces::NamespacesModel::new(kube_state.clone()),
            etcd: etcd::EtcdModel::new(crate::etcd::access::NEEDS, kube_state.clone()),
            leaders: leaders::LeadersModel::new(kube_state.clone()),
            events: events::EventsModel::new(
                kube_state.clone(),
                crate::tuning::EventsTuning::default().ring_size,
            ),
            top: top::TopModel::new(kube_state.clone()),
            nodes: nodes::NodesModel::new(kube_state.clone()),
            webhooks: webhooks::WebhooksModel::new(kube_state.clone()),
            findings: Vec::new(),
            findings_stale: false,
            overview_filter: Default::default(),
            ui: UiState::default(),
            dialog: None,
            view: None,
            view_seq: 0,
            notice: None,
            keymap,
            warnings: Vec::new(),
            started_at: now,
            tuning: crate::tuning::Tuning::default(),
            last_action: None,
            own_actions: Default::default(),
            acting: Vec::new(),
            certs: None,
            certs_state: kube_state.clone(),
            root_ca: root_ca::RootCaModel::new(kube_state.clone()),
            timeline: timeline::Timeline::default(),
            evaluations: 0,
            cluster,
        }
    }

    /// The Overview's rows: findings grouped under their causes, as (finding index, depth), kept by
    /// the `/` filter (a cause stays when one of its symptoms matches, so the tree still reads).
    pub fn overview_rows(&self) -> Vec<(usize, usize)> {
        let all = grouped(&self.findings);
        if !self.overview_filter.is_active() {
            return all;
        }
        let cells = |f: &Finding| {
            vec![
                f.severity.name().to_string(),
                f.title.clone(),
                f.pane.clone(),
                f.key.clone(),
                f.evidence.join(" "),
            ]
        };
        all.into_iter()
            .filter(|(i, _)| self.overview_filter.keeps(&cells(&self.findings[*i])))
            .collect()
    }

    /// Every source with its state, for the Overview and the report (`sources`).
    pub fn sources(&self) -> Vec<(SourceId, &SourceState)> {
        vec![
            (SourceId::Api, &self.api.state),
            (SourceId::Namespaces, &self.namespaces.state),
            (SourceId::Etcd, &self.etcd.state),
            (SourceId::EtcdPods, &self.etcd.pods_state),
            (SourceId::EtcdLogs, &self.etcd.logs_state),
            (SourceId::EtcdExec, &self.etcd.exec_state),
            (SourceId::Nodes, &self.nodes.state),
            (SourceId::Leases, &self.leaders.state),
            (SourceId::Events, &self.events.state),
            (SourceId::Pods, &self.top.state),
            (SourceId::Metrics, &self.top.metrics_state),
            (SourceId::ApiServices, &self.namespaces.apiservices_state),
            (SourceId::NsContent, &self.namespaces.content_state),
            (SourceId::Webhooks, &self.webhooks.state),
            (SourceId::WebhookBackends, &self.webhooks.backends_state),
            (SourceId::WebhookEvents, &self.webhooks.events_state),
            (SourceId::RootCa, &self.root_ca.state),
            (SourceId::Certs, &self.certs_state),
        ]
    }

    /// The sources failing now, by name, with why (the timeline's outages).
    pub fn failing_sources(&self) -> std::collections::BTreeMap<String, String> {
        self.sources()
            .into_iter()
            .filter_map(|(id, s)| match s {
                SourceState::Failed { failure, .. } => {
                    Some((id.name().to_string(), failure.message.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The state of one source, wherever its pane keeps it.
    pub fn source_state_mut(&mut self, id: SourceId) -> Option<&mut SourceState> {
        match id {
            SourceId::Api => Some(&mut self.api.state),
            SourceId::Etcd => Some(&mut self.etcd.state),
            SourceId::EtcdPods => Some(&mut self.etcd.pods_state),
            SourceId::EtcdLogs => Some(&mut self.etcd.logs_state),
            SourceId::EtcdExec => Some(&mut self.etcd.exec_state),
            SourceId::Nodes => Some(&mut self.nodes.state),
            SourceId::Leases => Some(&mut self.leaders.state),
            SourceId::Events => Some(&mut self.events.state),
            SourceId::Pods => Some(&mut self.top.state),
            SourceId::Metrics => Some(&mut self.top.metrics_state),
            SourceId::RootCa => Some(&mut self.root_ca.state),
            SourceId::Certs => Some(&mut self.certs_state),
            _ => self
                .namespaces
                .state_mut(id)
                .or_else(|| self.webhooks.state_mut(id)),
        }
    }
}
