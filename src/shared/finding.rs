//! Findings (the report's `findings[]`, CONTRACTS §1) and their severities, and the Overview's
//! grouping of findings under their causes.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::pane::PaneId;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

impl Subject {
    /// A namespaced object, whole (no `part`).
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Subject {
        Subject {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            part: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub id: String,
    pub key: String,
    pub severity: Severity,
    pub pane: String,
    pub subject: Option<Subject>,
    pub title: String,
    pub evidence: Vec<String>,
    pub fix: Fix,
    pub cause: Option<String>,
    pub details: Value,
}

impl Finding {
    /// A finding with the contract's key rule: `id`, then `/kind/namespace/name`, then `#part`.
    pub fn new(
        id: &str,
        severity: Severity,
        pane: PaneId,
        subject: Option<Subject>,
        title: String,
    ) -> Finding {
        let key = match &subject {
            None => id.to_string(),
            Some(s) => {
                let mut k = format!(
                    "{id}/{}/{}/{}",
                    s.kind,
                    s.namespace.as_deref().unwrap_or(""),
                    s.name
                );
                if let Some(p) = &s.part {
                    k.push('#');
                    k.push_str(p);
                }
                k
            }
        };
        Finding {
            id: id.to_string(),
            key,
            severity,
            pane: pane.name().to_string(),
            subject,
            title,
            evidence: Vec::new(),
            fix: Fix {
                text: String::new(),
                action: None,
            },
            cause: None,
            details: Value::Object(Default::default()),
        }
    }
}

/// The worst severity present.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).min()
}

/// Within one severity, what reaches furthest comes first: etcd without quorum or split (every
/// write of the cluster), the API server, then an etcd member or a node down; everything else
/// after them. The Overview, the report and the JSON list read worst first.
pub fn reach(id: &str) -> u8 {
    match id {
        "etcd-quorum-lost" => 0,
        "etcd-split-brain" => 1,
        "api-unreachable" => 2,
        "etcd-member-down" | "node-notready" => 3,
        _ => 4,
    }
}

/// The Overview's order: root causes (no cause, or a cause that is not present) ranked worst first
/// (a root's rank is the worst severity in its group, then its [`reach`], then how much it
/// explains), each followed by the findings it explains, depth-first. Returns (index into
/// `findings`, depth).
pub fn grouped(findings: &[Finding]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.key.as_str(), i))
        .collect();
    let parent = |i: usize| -> Option<usize> {
        let c = findings[i].cause.as_deref()?;
        index.get(c).copied().filter(|p| *p != i)
    };
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); findings.len()];
    let mut roots = Vec::new();
    for i in 0..findings.len() {
        // a cause chain that loops back has no root: treat its first member as one
        let mut seen = BTreeSet::from([i]);
        let mut cur = i;
        let mut cyclic = false;
        while let Some(p) = parent(cur) {
            if !seen.insert(p) {
                cyclic = true;
                break;
            }
            cur = p;
        }
        match parent(i) {
            Some(p) if !cyclic => children[p].push(i),
            _ => roots.push(i),
        }
    }
    fn subtree(i: usize, children: &[Vec<usize>], f: &[Finding]) -> (Severity, usize) {
        children[i].iter().fold((f[i].severity, 0), |(s, n), c| {
            let (cs, cn) = subtree(*c, children, f);
            (s.min(cs), n + cn + 1)
        })
    }
    let mut ranked: Vec<(Severity, u8, std::cmp::Reverse<usize>, usize)> = roots
        .iter()
        .map(|r| {
            let (s, n) = subtree(*r, &children, findings);
            (s, reach(&findings[*r].id), std::cmp::Reverse(n), *r)
        })
        .collect();
    ranked.sort();
    let mut order = Vec::with_capacity(findings.len());
    fn walk(i: usize, depth: usize, children: &[Vec<usize>], order: &mut Vec<(usize, usize)>) {
        order.push((i, depth));
        for c in &children[i] {
            walk(*c, depth + 1, children, order);
        }
    }
    for (_, _, _, r) in ranked {
        walk(r, 0, &children, &mut order);
    }
    order
}

/// The worst severity of the findings about each object: what a view colours a row with (views
/// never copy the rules' thresholds). Built before the first frame after an evaluation
/// (`derived::Derived`), read by every frame: a lookup is three hash probes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Severities(HashMap<String, ByNamespace>);

/// Namespace (`""`: cluster-scoped) → name → (part, severity) of each finding of one kind.
type ByNamespace = HashMap<String, HashMap<String, Vec<(Option<String>, Severity)>>>;

impl Severities {
    pub fn of(findings: &[Finding]) -> Severities {
        let mut by = Severities::default();
        for f in findings {
            if let Some(s) = &f.subject {
                by.0.entry(s.kind.clone())
                    .or_default()
                    .entry(s.namespace.clone().unwrap_or_default())
                    .or_default()
                    .entry(s.name.clone())
                    .or_default()
                    .push((s.part.clone(), f.severity));
            }
        }
        by
    }

    /// The worst finding about `kind` `namespace/name` (and `part`, where given).
    pub fn of_object(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        part: Option<&str>,
    ) -> Option<Severity> {
        self.0
            .get(kind)?
            .get(namespace.unwrap_or(""))?
            .get(name)?
            .iter()
            .filter(|(p, _)| part.is_none() || p.as_deref() == part)
            .map(|(_, sev)| *sev)
            .min()
    }
}
