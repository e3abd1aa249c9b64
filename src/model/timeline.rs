//! The incident's memory: every finding's appearance, severity change and resolution, every action
//! of this console (intent and outcome), every other console's `KtriageAction`, and every source
//! outage and recovery, with its time, in a bounded ring. The Timeline pane shows it newest first;
//! the incident snapshot carries it; `ktriage timeline` prints it from a recording.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::filter::TableFilter;
use crate::shared::finding::{Finding, Severity};

/// How many entries the ring keeps (the oldest go first; `dropped` counts them).
pub const CAP: usize = 5_000;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A finding appeared.
    Found,
    /// A finding's severity changed.
    Changed,
    /// A finding went away.
    Resolved,
    /// This console asked for a write (the confirmed dialog).
    Action,
    /// A write of this console finished (applied, rejected, …).
    Outcome,
    /// Another ktriage console acted (its `KtriageAction` Event).
    Other,
    /// A source stopped answering.
    Outage,
    /// A source answers again.
    Recovered,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Found => "found",
            Kind::Changed => "changed",
            Kind::Resolved => "resolved",
            Kind::Action => "action",
            Kind::Outcome => "outcome",
            Kind::Other => "other user",
            Kind::Outage => "outage",
            Kind::Recovered => "recovered",
        }
    }
}

/// One moment of the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    /// In an operator's words: the finding's title, the action's description and result, who else
    /// did what, which source failed and why.
    pub text: String,
    /// The finding's severity (found / changed: the new one; resolved: the last one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The pane the entry belongs to (`enter` jumps there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// The finding's key (found / changed / resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    entries: VecDeque<Entry>,
    /// Entries the ring let go (oldest first).
    pub dropped: usize,
    /// The `/` filter of the pane.
    pub filter: TableFilter,
    /// Other consoles' actions already in the ring (a relist of Events delivers them again).
    others: BTreeSet<String>,
    /// Sources failing at the last look, by name.
    failing: BTreeSet<String>,
    /// Bumped on every change (what caches compare).
    rev: u64,
}

impl Timeline {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// Oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Newest first (what happened at one moment in the order it was found: worst first),
    /// through the `/` filter.
    pub fn rows(&self) -> Vec<&Entry> {
        let m = self.filter.matcher();
        let mut rows: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| {
                let sev = e.severity.map_or("", Severity::name);
                m.keeps(&[
                    e.kind.name(),
                    sev,
                    e.text.as_str(),
                    e.pane.as_deref().unwrap_or(""),
                ])
            })
            .collect();
        // stable: one moment's entries keep their order
        rows.sort_by_key(|e| std::cmp::Reverse(e.at));
        rows
    }

    /// Add an entry in time order (an Event about an older action lands where it happened).
    pub fn push(&mut self, e: Entry) {
        let at = self
            .entries
            .iter()
            .rposition(|x| x.at <= e.at)
            .map_or(0, |i| i + 1);
        self.entries.insert(at, e);
        while self.entries.len() > CAP {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.rev += 1;
    }

    /// What changed between two evaluations: new findings and severity changes in the new order
    /// (worst first), then what went away.
    pub fn findings(&mut self, before: &[Finding], after: &[Finding], now: DateTime<Utc>) {
        let was: BTreeMap<&str, &Finding> = before.iter().map(|f| (f.key.as_str(), f)).collect();
        let is: BTreeSet<&str> = after.iter().map(|f| f.key.as_str()).collect();
        let mut new = Vec::new();
        for f in after {
            let kind = match was.get(f.key.as_str()) {
                None => Kind::Found,
                Some(w) if w.severity != f.severity => Kind::Changed,
                Some(_) => continue,
            };
            new.push(finding_entry(kind, f, now));
        }
        for f in before.iter().filter(|f| !is.contains(f.key.as_str())) {
            new.push(finding_entry(Kind::Resolved, f, now));
        }
        for e in new {
            self.push(e);
        }
    }

    /// Another console's action, once however often its Event is delivered (its `key` is the
    /// action id).
    pub fn other(&mut self, id: &str, text: String, at: DateTime<Utc>) {
        if self.others.insert(id.to_string()) {
            self.push(Entry {
                at,
                kind: Kind::Other,
                text,
                severity: None,
                pane: None,
                key: Some(id.to_string()),
            });
        }
    }

    /// The action `id` turned out to be this console's own (its Event came before its outcome).
    pub fn forget_other(&mut self, id: &str) {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(e.kind == Kind::Other && e.key.as_deref() == Some(id)));
        if self.entries.len() != before {
            self.rev += 1;
        }
    }

    /// The sources failing now (name → why): an outage when one starts failing, a recovery when
    /// it answers again.
    pub fn sources(&mut self, failing: BTreeMap<String, String>, now: DateTime<Utc>) {
        let names: BTreeSet<String> = failing.keys().cloned().collect();
        let gone: Vec<String> = self.failing.difference(&names).cloned().collect();
        for (name, why) in &failing {
            if !self.failing.contains(name) {
                self.push(plain(now, Kind::Outage, format!("source {name}: {why}")));
            }
        }
        for name in gone {
            self.push(plain(
                now,
                Kind::Recovered,
                format!("source {name} answers again"),
            ));
        }
        self.failing = names;
    }

    /// An entry about this console's own action.
    pub fn action(&mut self, kind: Kind, text: String, now: DateTime<Utc>) {
        self.push(plain(now, kind, text));
    }
}

/// A postmortem timeline in Markdown: one line per entry, oldest first, times in UTC (the date
/// in the heading, and again on the first entry of each new day).
pub fn markdown<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> String {
    let entries: Vec<&Entry> = entries.into_iter().collect();
    let Some(first) = entries.first() else {
        return "## Timeline\n\nNothing happened.\n".into();
    };
    let mut s = format!(
        "## Timeline (UTC, from {})\n\n",
        first.at.format("%Y-%m-%d %H:%M:%S")
    );
    let mut day = first.at.date_naive();
    for e in entries {
        if e.at.date_naive() != day {
            day = e.at.date_naive();
            s.push_str(&format!("\n**{day}**\n\n"));
        }
        let what = match e.severity {
            Some(sev) => format!("{} ({})", e.kind.name(), sev.name()),
            None => e.kind.name().to_string(),
        };
        s.push_str(&format!(
            "- {} {what}: {}\n",
            e.at.format("%H:%M:%S"),
            e.text.replace('\n', " ")
        ));
    }
    s
}

fn plain(at: DateTime<Utc>, kind: Kind, text: String) -> Entry {
    Entry {
        at,
        kind,
        text,
        severity: None,
        pane: None,
        key: None,
    }
}

fn finding_entry(kind: Kind, f: &Finding, at: DateTime<Utc>) -> Entry {
    Entry {
        at,
        kind,
        text: f.title.clone(),
        severity: Some(f.severity),
        pane: Some(f.pane.clone()),
        key: Some(f.key.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::pane::PaneId;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn f(key: &str, sev: Severity) -> Finding {
        let mut f = Finding::new("x", sev, PaneId::Etcd, None, format!("title {key}"));
        f.key = key.into();
        f
    }

    #[test]
    fn findings_found_changed_and_resolved() {
        let mut tl = Timeline::default();
        tl.findings(&[], &[f("a", Severity::Warning)], t(0));
        tl.findings(
            &[f("a", Severity::Warning)],
            &[f("a", Severity::Critical), f("b", Severity::Info)],
            t(5),
        );
        tl.findings(
            &[f("a", Severity::Critical), f("b", Severity::Info)],
            &[f("a", Severity::Critical)],
            t(9),
        );
        let got: Vec<(Kind, &str)> = tl
            .entries()
            .map(|e| (e.kind, e.key.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            got,
            vec![
                (Kind::Found, "a"),
                (Kind::Changed, "a"),
                (Kind::Found, "b"),
                (Kind::Resolved, "b"),
            ]
        );
        // newest first on screen
        assert_eq!(tl.rows()[0].kind, Kind::Resolved);
    }

    #[test]
    fn other_actions_once_and_in_time_order() {
        let mut tl = Timeline::default();
        tl.action(Kind::Action, "mine".into(), t(10));
        tl.other("id1", "jane scaled".into(), t(3));
        tl.other("id1", "jane scaled".into(), t(3));
        let texts: Vec<&str> = tl.entries().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, vec!["jane scaled", "mine"]);
    }

    #[test]
    fn outages_and_recoveries_on_transitions_only() {
        let mut tl = Timeline::default();
        let down = BTreeMap::from([("pods".to_string(), "connection refused".to_string())]);
        tl.sources(down.clone(), t(1));
        tl.sources(down, t(2));
        tl.sources(BTreeMap::new(), t(3));
        let got: Vec<(Kind, DateTime<Utc>)> = tl.entries().map(|e| (e.kind, e.at)).collect();
        assert_eq!(got, vec![(Kind::Outage, t(1)), (Kind::Recovered, t(3))]);
    }

    #[test]
    fn the_ring_is_bounded() {
        let mut tl = Timeline::default();
        for i in 0..(CAP + 7) {
            tl.action(Kind::Action, format!("{i}"), t(i as i64));
        }
        assert_eq!(tl.len(), CAP);
        assert_eq!(tl.dropped, 7);
        assert_eq!(tl.entries().next().map(|e| e.text.as_str()), Some("7"));
    }
}
