//! The panes, by id: name (config scopes, findings' `pane`, the `pane_<name>` action), title, tab
//! order. The list in `panes!` is the pane registry: one line per pane; the ids here and the
//! per-pane dispatch in `ui::panes` are generated from it.

use std::fmt;

/// The pane registry: one line per pane, in tab order (the number keys follow it). Each line is the
/// pane's id, its module and its title; `ui::panes::<module>` holds the pane (its `Pane` value,
/// `PANE`: view, keys, report rows) and `diagnose::<module>` its rules. Invoked with the name of a
/// macro that receives the list.
macro_rules! panes {
    ($then:ident) => {
        $then! {
            Overview overview "Overview",
            Etcd etcd "etcd",
            Leaders leaders "Leaders",
            Events events "Events",
            Top top "Top",
            Namespaces namespaces "Namespaces",
            Webhooks webhooks "Webhooks",
            Nodes nodes "Nodes",
            Timeline timeline "Timeline",
        }
    };
}
pub(crate) use panes;

macro_rules! pane_ids {
    ($($id:ident $module:ident $title:literal,)*) => {
        /// A pane (see `panes!` for the list).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PaneId {
            $($id,)*
        }

        impl PaneId {
            /// Every pane, in tab order.
            pub const ALL: &'static [PaneId] = &[$(PaneId::$id,)*];

            /// The name in config scopes, findings' `pane` and the report.
            pub fn name(self) -> &'static str {
                match self {
                    $(PaneId::$id => stringify!($module),)*
                }
            }

            pub fn title(self) -> &'static str {
                match self {
                    $(PaneId::$id => $title,)*
                }
            }

            /// The keymap's action that shows this pane (`pane_<name>`).
            pub fn action_name(self) -> &'static str {
                match self {
                    $(PaneId::$id => concat!("pane_", stringify!($module)),)*
                }
            }
        }
    };
}
panes!(pane_ids);

impl Default for PaneId {
    /// The first pane (the Overview).
    fn default() -> Self {
        PaneId::ALL[0]
    }
}

impl PaneId {
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
