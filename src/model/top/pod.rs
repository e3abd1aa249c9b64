//! A pod as the Top pane keeps it: the fields of a slim watch, and what they say about health and
//! resources.

use crate::model::Keyed;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRow {
    pub name: String,
    pub req_cpu_m: Option<u64>,
    pub req_mem_b: Option<u64>,
    pub lim_cpu_m: Option<u64>,
    pub lim_mem_b: Option<u64>,
    pub restarts: u32,
    /// The last termination was `OOMKilled`.
    pub oom_killed: bool,
    pub ready: bool,
    /// `state.waiting.reason` (`CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`, …).
    pub waiting_reason: Option<String>,
    pub waiting_message: Option<String>,
    /// `lastState.terminated`: reason and exit code of the previous run.
    pub last_term_reason: Option<String>,
    pub last_exit_code: Option<i32>,
    /// The last termination's `message` (bounded), empty when none: where a crashed process's
    /// final words (`x509: certificate signed by unknown authority`) are kept.
    pub last_message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub phase: String,
    /// `status.reason` (`Evicted` for evicted pods).
    pub reason: String,
    /// The controller owner: (kind, name).
    pub owner: Option<(String, String)>,
    pub containers: Vec<ContainerRow>,
    pub uid: String,
    /// Why the scheduler has not placed it: the `PodScheduled=False` condition's reason and message.
    pub unschedulable: Option<String>,
}

impl Keyed for PodRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl PodRow {
    pub fn evicted(&self) -> bool {
        self.phase == "Failed" && self.reason == "Evicted"
    }

    pub fn running(&self) -> bool {
        self.phase == "Running"
    }

    /// `ready/total` containers, as `kubectl get pods` shows it.
    pub fn ready_text(&self) -> String {
        let n = self.containers.iter().filter(|c| c.ready).count();
        format!("{n}/{}", self.containers.len())
    }

    /// The container in `CrashLoopBackOff`, if any.
    pub fn crashlooping(&self) -> Option<&ContainerRow> {
        self.containers
            .iter()
            .find(|c| c.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
    }

    /// The one-word health `kubectl get pods` shows in STATUS: a waiting reason, `Evicted`, or the phase.
    pub fn status(&self) -> String {
        self.status_str().to_string()
    }

    /// [`PodRow::status`] without allocating.
    pub fn status_str(&self) -> &str {
        if !self.reason.is_empty() {
            return &self.reason;
        }
        if let Some(w) = self
            .containers
            .iter()
            .find_map(|c| c.waiting_reason.as_deref())
        {
            return w;
        }
        if self.phase == "Pending" && self.unschedulable.is_some() {
            return "Unschedulable";
        }
        &self.phase
    }

    /// Why a `Pending` pod is not running: the scheduler's message, else a container's waiting reason.
    pub fn pending_reason(&self) -> Option<String> {
        if self.phase != "Pending" {
            return None;
        }
        if let Some(u) = &self.unschedulable {
            return Some(u.clone());
        }
        self.containers.iter().find_map(|c| {
            c.waiting_reason.as_ref().map(|r| match &c.waiting_message {
                Some(m) if !m.is_empty() => format!("container {}: {r}: {m}", c.name),
                _ => format!("container {}: {r}", c.name),
            })
        })
    }

    /// The last termination of the first container that has one: `Error (exit 1)`.
    pub fn last_termination(&self) -> Option<String> {
        self.containers.iter().find_map(|c| {
            c.last_term_reason.as_ref().map(|r| match c.last_exit_code {
                Some(code) => format!("{r} (exit {code})"),
                None => r.clone(),
            })
        })
    }

    pub fn restarts(&self) -> u32 {
        self.containers.iter().map(|c| c.restarts).sum()
    }

    /// Some container waits in `CrashLoopBackOff`.
    pub fn crash_looping(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
    }

    /// Running with every container ready.
    pub fn ready(&self) -> bool {
        self.running() && !self.containers.is_empty() && self.containers.iter().all(|c| c.ready)
    }

    /// Some container has no memory limit.
    pub fn lacks_mem_limit(&self) -> bool {
        self.containers.iter().any(|c| c.lim_mem_b.is_none())
    }

    pub fn lacks_any_limit(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.lim_mem_b.is_none() || c.lim_cpu_m.is_none())
    }

    /// The sum over the containers that have a value; None when none has (no allocation: the
    /// rules call this for every pod).
    fn sum(&self, f: impl Fn(&ContainerRow) -> Option<u64>) -> Option<u64> {
        self.containers
            .iter()
            .filter_map(f)
            .fold(None, |acc, v| Some(acc.unwrap_or(0) + v))
    }

    pub fn req_mem(&self) -> Option<u64> {
        self.sum(|c| c.req_mem_b)
    }
    pub fn req_cpu(&self) -> Option<u64> {
        self.sum(|c| c.req_cpu_m)
    }
    /// The pod's memory limit, only when every container has one.
    pub fn lim_mem(&self) -> Option<u64> {
        if self.containers.iter().all(|c| c.lim_mem_b.is_some()) {
            self.sum(|c| c.lim_mem_b)
        } else {
            None
        }
    }
}
