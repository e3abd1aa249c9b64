//! The recorder of one console (`--record FILE`): what the loop applies, written as lines of
//! [`Item`]s through the writer thread; metrics polls as what changed; rotation with a checkpoint
//! of the model so each file replays on its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::writer::{Cmd, Sink};
use super::{Digest, Header, Item, digest};
use crate::model::Model;
use crate::model::etcd::EtcdMsg;
use crate::model::namespaces::NsMsg;
use crate::model::store::{Delta, Store};
use crate::model::timeline::Entry;
use crate::model::top::{MetricsSnapshot, Usage};
use crate::model::webhooks::WebhooksMsg;
use crate::msg::Msg;
use crate::shared::kinds::WebhookKind;

/// Whether a message is what a source delivered (recorded) rather than the terminal's, a view's
/// or an action's (never recorded as a message).
fn recorded(msg: &Msg) -> bool {
    !matches!(
        msg,
        Msg::Key(_)
            | Msg::Resize(..)
            | Msg::Contexts(_)
            | Msg::SnapshotWritten(_)
            | Msg::ActionDone(_)
            | Msg::ViewLines { .. }
            | Msg::ViewObject { .. }
            | Msg::ViewEnded { .. }
    )
}

/// Log lines are free text: scrubbed of credentials before they are written.
fn scrubbed(msg: &Msg) -> Option<Msg> {
    let scrub =
        |lines: &[String]| -> Vec<String> { lines.iter().map(|l| crate::text::scrub(l)).collect() };
    match msg {
        Msg::Etcd(m) => match m.as_ref() {
            EtcdMsg::Logs { pod, lines } => Some(Msg::Etcd(Box::new(EtcdMsg::Logs {
                pod: pod.clone(),
                lines: scrub(lines),
            }))),
            _ => None,
        },
        Msg::CrashLogs(by) => Some(Msg::CrashLogs(
            by.iter().map(|(k, v)| (k.clone(), scrub(v))).collect(),
        )),
        _ => None,
    }
}

/// The recorder of one console.
pub struct Recorder {
    path: PathBuf,
    header: Header,
    /// The writer thread: compression and file IO never run on the loop.
    out: Sink,
    max_bytes: u64,
    last: Option<Digest>,
    /// The last message of each kind that is not a watch delta (a rotation's checkpoint replays
    /// them after the model's stores).
    latest: BTreeMap<String, Msg>,
    pub rotations: u32,
    /// Compressed bytes of the last rotation's checkpoint: a file rotates only past twice that
    /// too (a checkpoint larger than the bound does not rotate at every evaluation).
    checkpoint_bytes: u64,
    /// The last metrics poll recorded (the next is recorded as what changed since).
    metrics: Option<MetricsSnapshot>,
    /// When the compressed stream was last flushed to the file (every [`FLUSH_EVERY`]: a console
    /// that is killed loses at most that much).
    flushed: std::time::Instant,
}

/// How often the recording is flushed to its file.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Recorder {
    /// Record into `path`: appended when it already is a recording (a later session replays after
    /// the earlier one), else created private to the user (it holds what the cluster showed).
    pub fn create(path: &Path, header: Header, max_bytes: u64) -> std::io::Result<Recorder> {
        let mut r = Recorder {
            path: path.to_path_buf(),
            out: Sink::start(path)?,
            header: header.clone(),
            max_bytes: max_bytes.max(64 * 1024),
            last: None,
            latest: BTreeMap::new(),
            rotations: 0,
            checkpoint_bytes: 0,
            metrics: None,
            flushed: std::time::Instant::now(),
        };
        r.line(&Item::Header(header))?;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line(&mut self, item: &Item) -> std::io::Result<()> {
        self.out.write_line(|b| serde_json::to_writer(b, item))
    }

    /// A message as the loop applies it at `at`.
    pub fn msg(&mut self, at: DateTime<Utc>, msg: &Msg) -> std::io::Result<()> {
        if !recorded(msg) {
            return Ok(());
        }
        if let Some(slot) = latest_slot(msg) {
            self.latest.insert(slot, msg.clone());
        }
        if let Msg::Metrics(snap) = msg {
            let item = self
                .metrics
                .as_ref()
                .map(|was| metrics_delta(at, was, snap));
            self.metrics = Some(snap.clone());
            if let Some(item) = item {
                return self.line(&item);
            }
        }
        match scrubbed(msg) {
            Some(m) => self.line(&Item::Msg { at, msg: m }),
            // written by reference: a 50k-pod list is not cloned
            None => self
                .out
                .write_line(|b| serde_json::to_writer(b, &ItemRef::Msg { at, msg })),
        }
    }

    /// The rules ran at `at`; rotates when the file is past its bound (after an evaluation, so
    /// the checkpoint is a settled model).
    pub fn settle(&mut self, at: DateTime<Utc>, model: &Model) -> std::io::Result<()> {
        let d = digest(model);
        let findings = (self.last.as_ref() != Some(&d)).then(|| d.clone());
        self.last = Some(d);
        self.line(&Item::Settle { at, findings })?;
        if self.flushed.elapsed() >= FLUSH_EVERY {
            self.out.flush(false)?;
            self.flushed = std::time::Instant::now();
        }
        if self.out.bytes() >= self.max_bytes.max(2 * self.checkpoint_bytes) {
            self.rotate(at, model)?;
        }
        Ok(())
    }

    /// This console's action or its outcome.
    pub fn own(&mut self, entry: Entry, id: Option<String>) -> std::io::Result<()> {
        self.line(&Item::Own { entry, id })?;
        self.out.flush(false)
    }

    /// Flush what is buffered (the file is readable up to here; gzip members may be appended).
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.ask(Cmd::Finish)
    }

    /// `FILE` becomes `FILE.1` (an older `FILE.1` goes); a new `FILE` starts with the header and
    /// a checkpoint: every synced store of the model as a list, then the latest message of each
    /// other kind, then the evaluation.
    fn rotate(&mut self, at: DateTime<Utc>, model: &Model) -> std::io::Result<()> {
        self.out.ask(Cmd::Rotate)?;
        self.rotations += 1;
        let header = Header {
            started_at: at,
            ..self.header.clone()
        };
        self.line(&Item::Header(header))?;
        for m in checkpoint(model) {
            self.line(&Item::Msg { at, msg: m })?;
        }
        let latest: Vec<Msg> = self.latest.values().cloned().collect();
        for m in latest {
            self.line(&Item::Msg { at, msg: m })?;
        }
        for e in model.timeline.entries() {
            self.line(&Item::Own {
                entry: e.clone(),
                id: None,
            })?;
        }
        self.last = Some(digest(model));
        self.line(&Item::Settle {
            at,
            findings: self.last.clone(),
        })?;
        self.out.flush(true)?;
        self.flushed = std::time::Instant::now();
        self.checkpoint_bytes = self.out.bytes();
        tracing::info!(path = %self.path.display(), bytes = self.checkpoint_bytes, "recording rotated");
        Ok(())
    }
}

/// A poll as what changed since the last one.
fn metrics_delta(at: DateTime<Utc>, was: &MetricsSnapshot, now: &MetricsSnapshot) -> Item {
    let (pods, pods_gone) = changes(&was.pods, &now.pods);
    let (nodes, nodes_gone) = changes(&was.nodes, &now.nodes);
    Item::Metrics {
        at,
        pods,
        pods_gone,
        nodes,
        nodes_gone,
    }
}

/// The entries of `now` that are new or differ from `was`, and the keys `now` no longer has.
fn changes<'a, M>(was: &'a M, now: &'a M) -> (BTreeMap<String, Usage>, Vec<String>)
where
    &'a M: IntoIterator<Item = (&'a String, &'a Usage)>,
    M: UsageMap,
{
    let changed = now
        .into_iter()
        .filter(|(k, v)| was.usage(k) != Some(**v))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    let gone = was
        .into_iter()
        .filter(|(k, _)| now.usage(k).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    (changed, gone)
}

/// The two maps of a poll (pods hashed, nodes ordered), looked up alike.
trait UsageMap {
    fn usage(&self, key: &str) -> Option<Usage>;
}

impl UsageMap for crate::model::top::PodUsage {
    fn usage(&self, key: &str) -> Option<Usage> {
        self.get(key).copied()
    }
}

impl UsageMap for BTreeMap<String, Usage> {
    fn usage(&self, key: &str) -> Option<Usage> {
        self.get(key).copied()
    }
}

/// The poll a delta describes, on top of the one before it (the model's).
pub(super) fn metrics_from(
    was: &MetricsSnapshot,
    pods: &BTreeMap<String, Usage>,
    pods_gone: &[String],
    nodes: &BTreeMap<String, Usage>,
    nodes_gone: &[String],
) -> MetricsSnapshot {
    let mut snap = was.clone();
    for k in pods_gone {
        snap.pods.remove(k);
    }
    for k in nodes_gone {
        snap.nodes.remove(k);
    }
    snap.pods.extend(pods.iter().map(|(k, v)| (k.clone(), *v)));
    snap.nodes
        .extend(nodes.iter().map(|(k, v)| (k.clone(), *v)));
    snap
}

/// Where a rotated recording goes: `FILE.1`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".1");
    PathBuf::from(s)
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum ItemRef<'a> {
    Msg { at: DateTime<Utc>, msg: &'a Msg },
}

/// The slot of a message that is not a watch delta: the last one of each slot rebuilds its part
/// of the model.
fn latest_slot(msg: &Msg) -> Option<String> {
    Some(match msg {
        Msg::ApiUp { .. } => "api".into(),
        Msg::SourceAbsent(id, _) => format!("absent/{}", id.name()),
        Msg::Metrics(_) => "metrics".into(),
        Msg::Certs(_) => "certs".into(),
        Msg::CrashLogs(_) => "crash-logs".into(),
        Msg::Etcd(m) => match m.as_ref() {
            EtcdMsg::Round(_) => "etcd/round".into(),
            EtcdMsg::ExecRound(_) => "etcd/exec-round".into(),
            EtcdMsg::Exec(_) => "etcd/exec".into(),
            EtcdMsg::Snapshots(_) => "etcd/snapshots".into(),
            EtcdMsg::Readyz(_) => "etcd/readyz".into(),
            EtcdMsg::Logs { pod, .. } => format!("etcd/logs/{pod}"),
            _ => return None,
        },
        _ => return None,
    })
}

/// A store's rows as one list, then the rows of a list in progress (its `InitDone` follows in the
/// recording).
fn list<T: Clone + crate::model::store::Keyed>(
    store: &Store<T>,
    wrap: impl Fn(Delta<T>) -> Msg,
    out: &mut Vec<Msg>,
) {
    if store.synced {
        out.push(wrap(Delta::Init));
        out.extend(store.iter().map(|r| wrap(Delta::InitApply(r.clone()))));
        out.push(wrap(Delta::InitDone));
    }
    if let Some(rows) = store.pending() {
        out.push(wrap(Delta::Init));
        out.extend(rows.map(|r| wrap(Delta::InitApply(r.clone()))));
    }
}

/// The watched part of the model as lists (a rotation's checkpoint).
fn checkpoint(m: &Model) -> Vec<Msg> {
    let mut out = Vec::new();
    list(&m.namespaces.store, Msg::Namespaces, &mut out);
    list(&m.nodes.store, Msg::Nodes, &mut out);
    list(&m.leaders.store, Msg::Leases, &mut out);
    list(&m.events.store, Msg::Events, &mut out);
    list(&m.top.pods, Msg::Pods, &mut out);
    list(&m.top.replicasets, Msg::ReplicaSets, &mut out);
    list(&m.root_ca.store, Msg::RootCa, &mut out);
    list(
        &m.etcd.pods,
        |d| Msg::Etcd(Box::new(EtcdMsg::Pods(d))),
        &mut out,
    );
    list(
        &m.namespaces.apiservices,
        |d| Msg::NsPane(NsMsg::ApiServices(d)),
        &mut out,
    );
    list(
        &m.namespaces.content,
        |d| Msg::NsPane(NsMsg::Content(d)),
        &mut out,
    );
    list(
        &m.webhooks.validating,
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Validating, d)),
        &mut out,
    );
    list(
        &m.webhooks.mutating,
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Mutating, d)),
        &mut out,
    );
    list(
        &m.webhooks.services,
        |d| Msg::Webhooks(WebhooksMsg::Services(d)),
        &mut out,
    );
    list(
        &m.webhooks.endpoints,
        |d| Msg::Webhooks(WebhooksMsg::Endpoints(d)),
        &mut out,
    );
    list(
        &m.webhooks.events,
        |d| Msg::Webhooks(WebhooksMsg::Events(d)),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(cpu_m: u64, mem_b: u64) -> Usage {
        Usage { cpu_m, mem_b }
    }

    #[test]
    fn a_metrics_poll_recorded_as_its_changes_comes_back_whole() {
        let mut was = MetricsSnapshot::default();
        was.pods.insert("a/p1".into(), u(10, 100));
        was.pods.insert("a/p2".into(), u(20, 200));
        was.pods.insert("a/p3".into(), u(30, 300));
        was.nodes.insert("n1".into(), u(1000, 1 << 30));
        let mut now = was.clone();
        now.pods.insert("a/p2".into(), u(25, 250));
        now.pods.remove("a/p3");
        now.pods.insert("a/p4".into(), u(40, 400));
        now.nodes.remove("n1");
        now.nodes.insert("n2".into(), u(5, 5));
        let Item::Metrics {
            pods,
            pods_gone,
            nodes,
            nodes_gone,
            ..
        } = metrics_delta(Utc::now(), &was, &now)
        else {
            panic!("a delta");
        };
        assert_eq!(pods.keys().collect::<Vec<_>>(), ["a/p2", "a/p4"]);
        assert_eq!(pods_gone, ["a/p3"]);
        assert_eq!(nodes_gone, ["n1"]);
        assert_eq!(
            metrics_from(&was, &pods, &pods_gone, &nodes, &nodes_gone),
            now
        );
        // an unchanged poll is empty
        let Item::Metrics { pods, nodes, .. } = metrics_delta(Utc::now(), &now, &now) else {
            panic!("a delta");
        };
        assert!(pods.is_empty() && nodes.is_empty());
    }
}
