//! The panes, by id: name (config scopes, findings' `pane`), title, tab order.

use std::fmt;

/// The seven panes, in tab order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaneId {
    #[default]
    Overview,
    Etcd,
    Leaders,
    Events,
    Top,
    Namespaces,
    Webhooks,
}

impl PaneId {
    pub const ALL: &'static [PaneId] = &[
        PaneId::Overview,
        PaneId::Etcd,
        PaneId::Leaders,
        PaneId::Events,
        PaneId::Top,
        PaneId::Namespaces,
        PaneId::Webhooks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PaneId::Overview => "overview",
            PaneId::Etcd => "etcd",
            PaneId::Leaders => "leaders",
            PaneId::Events => "events",
            PaneId::Top => "top",
            PaneId::Namespaces => "namespaces",
            PaneId::Webhooks => "webhooks",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Overview => "Overview",
            PaneId::Etcd => "etcd",
            PaneId::Leaders => "Leaders",
            PaneId::Events => "Events",
            PaneId::Top => "Top",
            PaneId::Namespaces => "Namespaces",
            PaneId::Webhooks => "Webhooks",
        }
    }

    pub fn from_name(name: &str) -> Option<PaneId> {
        PaneId::ALL.iter().copied().find(|p| p.name() == name)
    }

    pub fn index(self) -> usize {
        PaneId::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> PaneId {
        PaneId::ALL[(self.index() + 1) % PaneId::ALL.len()]
    }

    pub fn prev(self) -> PaneId {
        PaneId::ALL[(self.index() + PaneId::ALL.len() - 1) % PaneId::ALL.len()]
    }
}

impl fmt::Display for PaneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
