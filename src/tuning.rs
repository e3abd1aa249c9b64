//! Thresholds of the Leaders, Events, Top and Nodes rules and their sources (`[leaders]`,
//! `[events]`, `[top]`, `[nodes]` in the config file). Every field has the default of `assets/default-config.toml`.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct LeadersTuning {
    /// `leader-flapping`: this many holder changes …
    pub flapping_changes: usize,
    /// … within this window (seconds).
    pub flapping_window_secs: i64,
}

impl Default for LeadersTuning {
    fn default() -> Self {
        LeadersTuning {
            flapping_changes: 3,
            flapping_window_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EventsTuning {
    /// How many events the pane keeps (a ring: the oldest by last seen go first).
    pub ring_size: usize,
    /// `eviction-storm`: this many evictions …
    pub storm_evictions: u64,
    /// … within this window (seconds).
    pub storm_window_secs: i64,
    /// `node-flapping`: this many Ready↔NotReady flips within the hour.
    pub node_flaps: usize,
}

impl Default for EventsTuning {
    fn default() -> Self {
        EventsTuning {
            ring_size: 5000,
            storm_evictions: 5,
            storm_window_secs: 300,
            node_flaps: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct TopTuning {
    /// metrics.k8s.io poll interval (seconds).
    pub metrics_secs: u64,
    /// `pod-near-limit`: memory usage at or above this percentage of the limit.
    pub near_limit_pct: u64,
    /// `node-overcommitted`: memory limits summed above this percentage of allocatable.
    pub overcommit_pct: u64,
}

impl Default for TopTuning {
    fn default() -> Self {
        TopTuning {
            metrics_secs: 10,
            near_limit_pct: 90,
            overcommit_pct: 150,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct NodesTuning {
    /// `node-notready` is critical when more than this percentage of the workers is NotReady
    /// (always for a control-plane or etcd node).
    pub notready_workers_pct: u64,
}

impl Default for NodesTuning {
    fn default() -> Self {
        NodesTuning {
            notready_workers_pct: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tuning {
    pub leaders: LeadersTuning,
    pub events: EventsTuning,
    pub top: TopTuning,
    pub nodes: NodesTuning,
}
