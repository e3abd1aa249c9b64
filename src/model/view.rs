//! The views on a selected pod: logs (a ring-capped buffer fed by a streaming source task), YAML
//! (managedFields hidden by default) and a describe-style summary with its recent events. Each view
//! offers its kubectl equivalent to copy (OSC 52).

use std::collections::VecDeque;

use serde_json::Value;

use super::filter::TableFilter;

/// At most this many log lines are kept; older ones are dropped (counted in `dropped`).
pub const LOG_CAP: usize = 5000;

/// A bounded line buffer: a chatty pod cannot grow memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineRing {
    lines: VecDeque<String>,
    cap: usize,
    /// Lines dropped from the front since the view opened.
    pub dropped: u64,
}

impl LineRing {
    pub fn new(cap: usize) -> LineRing {
        LineRing {
            lines: VecDeque::with_capacity(cap.min(1024)),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    pub fn push(&mut self, line: String) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.lines.iter()
    }

    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    Logs,
    Yaml,
    Describe,
    /// What a drain or bulk delete did, line by line (moved, held by a PDB, skipped, deleted).
    Report,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    pub kind: ViewKind,
    /// Changes with every (re)started stream: lines of an older stream are ignored.
    pub id: u64,
    pub namespace: String,
    pub pod: String,
    pub containers: Vec<String>,
    pub container: usize,
    pub previous: bool,
    pub follow: bool,
    pub show_managed_fields: bool,
    pub lines: LineRing,
    /// The object as fetched (YAML view).
    pub object: Option<Value>,
    /// Search in the view (`/`): lines containing it are highlighted and counted.
    pub search: TableFilter,
    /// First line shown when not following.
    pub scroll: usize,
    pub error: Option<String>,
    /// The stream ended (not following, or the container stopped).
    pub ended: bool,
    /// The command of a report view (the action's kubectl equivalent).
    pub command: Option<String>,
}

impl PodView {
    pub fn new(
        kind: ViewKind,
        id: u64,
        namespace: &str,
        pod: &str,
        containers: Vec<String>,
    ) -> Self {
        PodView {
            kind,
            id,
            namespace: namespace.into(),
            pod: pod.into(),
            containers,
            container: 0,
            previous: false,
            follow: true,
            show_managed_fields: false,
            lines: LineRing::new(LOG_CAP),
            object: None,
            search: TableFilter::default(),
            scroll: 0,
            error: None,
            ended: false,
            command: None,
        }
    }

    /// A report of an action's outcome: `title` names it, `lines` are its report lines.
    pub fn report(id: u64, title: &str, lines: &[String], command: String) -> Self {
        let mut v = PodView::new(ViewKind::Report, id, "", title, Vec::new());
        for l in lines {
            v.lines.push(l.clone());
        }
        v.follow = false;
        v.ended = true;
        v.command = Some(command);
        v
    }

    pub fn container_name(&self) -> Option<&str> {
        self.containers.get(self.container).map(String::as_str)
    }

    /// The kubectl command this view is the equivalent of.
    pub fn kubectl(&self, context: Option<&str>) -> String {
        let q = crate::mutation::shell_quote;
        let ctx = context
            .map(|c| format!(" --context {}", q(c)))
            .unwrap_or_default();
        let ns = q(&self.namespace);
        let pod = q(&self.pod);
        match self.kind {
            ViewKind::Logs => {
                let mut s = format!("kubectl{ctx} -n {ns} logs {pod}");
                if let Some(c) = self.container_name().filter(|_| self.containers.len() > 1) {
                    s.push_str(&format!(" -c {}", q(c)));
                }
                if self.previous {
                    s.push_str(" --previous");
                } else if self.follow {
                    s.push_str(" -f");
                }
                s.push_str(" --tail=500");
                s
            }
            ViewKind::Yaml => {
                if self.show_managed_fields {
                    format!("kubectl{ctx} -n {ns} get pod {pod} -o yaml --show-managed-fields")
                } else {
                    format!("kubectl{ctx} -n {ns} get pod {pod} -o yaml")
                }
            }
            ViewKind::Describe => format!("kubectl{ctx} -n {ns} describe pod {pod}"),
            ViewKind::Report => self.command.clone().unwrap_or_default(),
        }
    }

    /// The YAML text of the fetched object (managedFields removed unless shown).
    pub fn yaml(&self) -> Vec<String> {
        let Some(o) = &self.object else {
            return Vec::new();
        };
        let mut o = o.clone();
        if !self.show_managed_fields
            && let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("managedFields");
        }
        crate::sim::yaml::to_string(&o)
            .unwrap_or_else(|e| format!("# cannot render: {e}"))
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// What the one view stream should do: stream a pod's logs, read the pod object, or stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewRequest {
    Logs {
        id: u64,
        namespace: String,
        pod: String,
        container: Option<String>,
        previous: bool,
        follow: bool,
        tail: i64,
    },
    Object {
        id: u64,
        namespace: String,
        pod: String,
    },
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_lines_and_counts_the_dropped() {
        let mut r = LineRing::new(3);
        for i in 0..10 {
            r.push(i.to_string());
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().cloned().collect::<Vec<_>>(), ["7", "8", "9"]);
        assert_eq!(r.dropped, 7);
    }

    #[test]
    fn kubectl_equivalents() {
        let mut v = PodView::new(
            ViewKind::Logs,
            1,
            "kube-system",
            "dns-1",
            vec!["a".into(), "b".into()],
        );
        v.container = 1;
        v.previous = true;
        assert_eq!(
            v.kubectl(None),
            "kubectl -n kube-system logs dns-1 -c b --previous --tail=500"
        );
        v.kind = ViewKind::Yaml;
        assert_eq!(
            v.kubectl(Some("prod")),
            "kubectl --context prod -n kube-system get pod dns-1 -o yaml"
        );
        v.kind = ViewKind::Describe;
        assert_eq!(v.kubectl(None), "kubectl -n kube-system describe pod dns-1");
    }
}
