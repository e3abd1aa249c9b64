//! User intents. The keymap (data, `assets/default-config.toml`) maps keys to these by name.

use std::fmt;

use super::pane::PaneId;

/// Something the user asked for. Mutating actions are hidden and refused in read-only mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    Pane(PaneId),
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    Close,
    /// Scale the selected workload (mutating).
    Scale,
    /// Revert the last action of this session from the journal's `before` (mutating).
    Undo,
    /// List the kubeconfig's contexts and switch to one.
    Contexts,
    /// Write the incident snapshot (markdown, mode 0600) and show its path.
    Snapshot,
    /// Jump from a finding or an eviction group to its workload in Top.
    Jump,
    /// Events: warnings only / all events.
    ToggleWarnings,
    /// Events: edit the filter line.
    Filter,
    /// Events and Top: next sort order.
    Sort,
    /// Top: group pods by owner.
    Group,
    /// Copy to the clipboard (OSC 52), running nothing: the kubectl command in a dialog, the
    /// runbook's commands in the etcd pane.
    Copy,
    /// Dialog: one more / one fewer replica.
    More,
    Less,
    /// Namespaces: propose the next step of the selected namespace's ordered fix (mutating).
    Fix,
    /// Namespaces: `/finalize` the selected namespace, the last resort (mutating).
    Finalize,
    /// Webhooks: toggle the selected webhook's failurePolicy Fail ⇄ Ignore (mutating).
    ToggleFailurePolicy,
    /// Webhooks: back up and delete the selected webhook's configuration (mutating).
    BackupDelete,
    /// Restore what ktriage saved: a webhook's policy, a deleted configuration or APIService (mutating).
    Restore,
    /// Top: `rollout restart` the selected workload (Deployment, DaemonSet, StatefulSet) (mutating).
    RolloutRestart,
    /// Top: delete the selected pod so its controller re-creates it (mutating).
    DeletePod,
    /// Top: delete the Evicted/Failed pods of the selected row's namespace (mutating).
    CleanEvicted,
    /// Top: delete the Evicted/Failed pods of every namespace (mutating).
    CleanEvictedAll,
    /// Top: cordon (or uncordon) the selected pod's node (mutating).
    Cordon,
    /// Top: drain the selected pod's node through the Eviction API (mutating).
    Drain,
    /// Top: the selected pod's logs (`p` in the view toggles `--previous`).
    Logs,
    /// Top: the selected pod's YAML.
    Yaml,
    /// Top: a describe-style summary of the selected pod with its recent events.
    Describe,
    /// Views: toggle `--previous` (logs) or managedFields (YAML).
    Previous,
    /// Views: next container.
    Container,
    /// Views: follow (stay at the bottom as lines arrive).
    Follow,
    /// etcd: ask once whether to run etcdctl in the etcd pods through pods/exec for this context
    /// (a write for the read-only gate, though the commands only read).
    EtcdExec,
    /// Replay: pause or resume.
    ReplayPause,
    /// Replay: half the speed.
    ReplaySlower,
    /// Replay: twice the speed.
    ReplayFaster,
    /// Replay: one minute back.
    ReplayBack,
    /// Replay: one minute forward.
    ReplayForward,
    Confirm,
    Cancel,
    /// Explicitly unbound (a user override with `action = "none"`).
    None,
}

impl Action {
    /// The actions before the `pane_<name>` ones, with their config names.
    const BEFORE_PANES: &'static [(&'static str, Action)] = &[
        ("quit", Action::Quit),
        ("help", Action::Help),
        ("next_pane", Action::NextPane),
        ("prev_pane", Action::PrevPane),
    ];

    /// The actions after the `pane_<name>` ones, with their config names.
    const AFTER_PANES: &'static [(&'static str, Action)] = &[
        ("up", Action::Up),
        ("down", Action::Down),
        ("page_up", Action::PageUp),
        ("page_down", Action::PageDown),
        ("first", Action::First),
        ("last", Action::Last),
        ("close", Action::Close),
        ("scale", Action::Scale),
        ("undo", Action::Undo),
        ("jump", Action::Jump),
        ("snapshot", Action::Snapshot),
        ("contexts", Action::Contexts),
        ("toggle_warnings", Action::ToggleWarnings),
        ("filter", Action::Filter),
        ("sort", Action::Sort),
        ("group", Action::Group),
        ("copy", Action::Copy),
        ("more", Action::More),
        ("less", Action::Less),
        ("fix", Action::Fix),
        ("finalize", Action::Finalize),
        ("toggle_failure_policy", Action::ToggleFailurePolicy),
        ("backup_delete", Action::BackupDelete),
        ("restore", Action::Restore),
        ("rollout_restart", Action::RolloutRestart),
        ("delete_pod", Action::DeletePod),
        ("clean_evicted", Action::CleanEvicted),
        ("clean_evicted_all", Action::CleanEvictedAll),
        ("cordon", Action::Cordon),
        ("drain", Action::Drain),
        ("logs", Action::Logs),
        ("yaml", Action::Yaml),
        ("describe", Action::Describe),
        ("previous", Action::Previous),
        ("container", Action::Container),
        ("follow", Action::Follow),
        ("etcd_exec", Action::EtcdExec),
        ("replay_pause", Action::ReplayPause),
        ("replay_slower", Action::ReplaySlower),
        ("replay_faster", Action::ReplayFaster),
        ("replay_back", Action::ReplayBack),
        ("replay_forward", Action::ReplayForward),
        ("confirm", Action::Confirm),
        ("cancel", Action::Cancel),
        ("none", Action::None),
    ];

    /// Every action with its config name, in help order: the `pane_<name>` ones follow the pane
    /// registry (`shared::pane`).
    pub fn all() -> impl Iterator<Item = (&'static str, Action)> {
        let panes = PaneId::ALL
            .iter()
            .map(|p| (p.action_name(), Action::Pane(*p)));
        Self::BEFORE_PANES
            .iter()
            .copied()
            .chain(panes)
            .chain(Self::AFTER_PANES.iter().copied())
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Self::all().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    pub fn name(self) -> &'static str {
        Self::all()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| n)
            .unwrap_or("none")
    }

    /// True for actions the read-only gate refuses (and the keymap hides in read-only mode): every
    /// mutating action, and running a command in a pod (pods/exec is a write even when the command
    /// only reads).
    pub fn is_write(self) -> bool {
        self.is_mutating() || self == Action::EtcdExec
    }

    /// True for actions that would change the cluster.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Action::Scale
                | Action::Undo
                | Action::Fix
                | Action::Finalize
                | Action::ToggleFailurePolicy
                | Action::BackupDelete
                | Action::Restore
                | Action::RolloutRestart
                | Action::DeletePod
                | Action::CleanEvicted
                | Action::CleanEvictedAll
                | Action::Cordon
                | Action::Drain
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
