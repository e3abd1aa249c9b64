//! The flight recorder and its player. `--record FILE` appends what the sources deliver (the
//! projected rows of `Msg`, never whole objects; log lines scrubbed of credentials), the loop's
//! clock ticks, every evaluation of the rules with the findings it produced, and this console's
//! actions, as gzip-compressed JSON lines; the file is bounded (`max_bytes` compressed, or twice
//! its checkpoint when that is larger, then it rotates to `FILE.1` and starts again from a
//! checkpoint of the model, so each file replays on its own; at most two files exist). A rotated
//! file starts from the model's rows at the rotation: history older than it (a node's flips, etcd
//! leader changes across probe rounds) begins again there. `ktriage replay FILE` and `ktriage timeline FILE` feed the same items through the same
//! `update` with the recorded times: no cluster client exists there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::derived::Derived;
use crate::model::etcd::{AccessInfo, EtcdMsg};
use crate::model::namespaces::NsMsg;
use crate::model::store::{Delta, Store};
use crate::model::timeline::{Entry, Kind};
use crate::model::top::{MetricsSnapshot, Usage};
use crate::model::webhooks::WebhooksMsg;
use crate::model::{ClusterInfo, Model};
use crate::msg::Msg;
use crate::shared::finding::Severity;
use crate::shared::kinds::WebhookKind;
use crate::update::{apply_in, settle_in};

/// The recording format's version (the header's `version`).
pub const VERSION: u32 = 1;

/// A recording's file is rotated past this many compressed bytes (`--record-max-mb`).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// What the player needs to build the model the recorded console started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    pub started_at: DateTime<Utc>,
    pub cluster: ClusterInfo,
    pub tuning: crate::tuning::Tuning,
    pub etcd: Option<AccessInfo>,
    /// The ktriage version that recorded.
    pub ktriage: String,
}

/// The findings of one evaluation, by key, with their severity.
pub type Digest = Vec<(String, Severity)>;

/// One line of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    Header(Header),
    /// What a source delivered, or the loop's clock tick.
    Msg {
        at: DateTime<Utc>,
        msg: Msg,
    },
    /// The rules ran; `findings` is `None` when they are the same as the last evaluation's.
    Settle {
        at: DateTime<Utc>,
        findings: Option<Digest>,
    },
    /// This console's action (intent or outcome); `id` is the action id of an outcome.
    Own {
        entry: Entry,
        id: Option<String>,
    },
    /// A metrics.k8s.io poll, as what changed since the last one recorded (a poll of 5,000 pods
    /// whose usage did not move costs a few bytes, not 300 kB).
    Metrics {
        at: DateTime<Utc>,
        pods: BTreeMap<String, Usage>,
        pods_gone: Vec<String>,
        nodes: BTreeMap<String, Usage>,
        nodes_gone: Vec<String>,
    },
}

impl Item {
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Item::Header(h) => Some(h.started_at),
            Item::Msg { at, .. } | Item::Settle { at, .. } | Item::Metrics { at, .. } => Some(*at),
            Item::Own { entry, .. } => Some(entry.at),
        }
    }
}

pub fn digest(model: &Model) -> Digest {
    model
        .findings
        .iter()
        .map(|f| (f.key.clone(), f.severity))
        .collect()
}

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

/// Counts the compressed bytes written.
struct Counted {
    out: BufWriter<File>,
    bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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

/// Open `path` to append a gzip member (a file that exists must already be a recording: a gzip
/// member after another is read as one stream).
fn create(path: &Path) -> std::io::Result<GzEncoder<Counted>> {
    if let Ok(mut f) = File::open(path) {
        let mut magic = [0u8; 2];
        let n = std::io::Read::read(&mut f, &mut magic)?;
        if n > 0 && magic != [0x1f, 0x8b] {
            return Err(std::io::Error::other(
                "the file exists and is not a ktriage recording (nothing was written to it)",
            ));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(path)?;
    let bytes = file.metadata()?.len();
    Ok(GzEncoder::new(
        Counted {
            out: BufWriter::new(file),
            bytes,
        },
        // the loop's messages are compressed as they come: speed over the last percent of size
        Compression::fast(),
    ))
}

/// What the loop asks of the writer thread.
enum Cmd {
    Data(Vec<u8>),
    /// Flush to the file; answered when asked with a channel.
    Flush(Option<std::sync::mpsc::SyncSender<std::io::Result<()>>>),
    /// `FILE` to `FILE.1`, a new `FILE`.
    Rotate(std::sync::mpsc::SyncSender<std::io::Result<()>>),
    Finish(std::sync::mpsc::SyncSender<std::io::Result<()>>),
}

/// The loop's end of the writer thread: lines are buffered and handed over in chunks; the thread
/// compresses and writes them. A write error there is kept and returned by the loop's next call.
struct Sink {
    tx: std::sync::mpsc::SyncSender<Cmd>,
    buf: Vec<u8>,
    /// Compressed bytes in the current file (the thread counts them).
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// Lines are handed to the writer in chunks of about this many bytes.
const CHUNK: usize = 256 * 1024;

impl Sink {
    fn start(path: &Path) -> std::io::Result<Sink> {
        let first = create(path)?;
        let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(first.get_ref().bytes));
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        // at most 16 chunks queued (4 MiB): past that the loop waits for the disk
        let (tx, rx) = std::sync::mpsc::sync_channel::<Cmd>(16);
        let (b, f, path) = (bytes.clone(), failed.clone(), path.to_path_buf());
        std::thread::Builder::new()
            .name("ktriage-recorder".into())
            .spawn(move || writer(first, &path, &rx, &b, &f))?;
        Ok(Sink {
            tx,
            buf: Vec::with_capacity(CHUNK),
            bytes,
            failed,
        })
    }

    fn check(&self) -> std::io::Result<()> {
        match self.failed.lock().ok().and_then(|f| f.clone()) {
            Some(e) => Err(std::io::Error::other(e)),
            None => Ok(()),
        }
    }

    fn send(&self, cmd: Cmd) -> std::io::Result<()> {
        self.tx
            .send(cmd)
            .map_err(|_| std::io::Error::other("the recorder's writer stopped"))
    }

    fn write_line(
        &mut self,
        line: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
    ) -> std::io::Result<()> {
        self.check()?;
        line(&mut self.buf)?;
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(Cmd::Data(chunk))?;
        }
        Ok(())
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.send(Cmd::Data(chunk))?;
        }
        Ok(())
    }

    /// Hand over what is buffered and ask for a flush; `wait`: until it is on disk.
    fn flush(&mut self, wait: bool) -> std::io::Result<()> {
        self.hand_over()?;
        if !wait {
            return self.send(Cmd::Flush(None));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Cmd::Flush(Some(tx)))?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the recorder's writer stopped"))??;
        self.check()
    }

    fn ask(
        &mut self,
        cmd: impl FnOnce(std::sync::mpsc::SyncSender<std::io::Result<()>>) -> Cmd,
    ) -> std::io::Result<()> {
        self.hand_over()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(cmd(tx))?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the recorder's writer stopped"))?
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The writer thread: compress and write what the loop hands over, until it finishes or goes.
fn writer(
    mut out: GzEncoder<Counted>,
    path: &Path,
    rx: &std::sync::mpsc::Receiver<Cmd>,
    bytes: &std::sync::atomic::AtomicU64,
    failed: &std::sync::Mutex<Option<String>>,
) {
    let fail = |e: &std::io::Error| {
        if let Ok(mut f) = failed.lock() {
            f.get_or_insert_with(|| e.to_string());
        }
    };
    let count = |out: &GzEncoder<Counted>| {
        bytes.store(out.get_ref().bytes, std::sync::atomic::Ordering::Relaxed);
    };
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Data(chunk) => {
                if let Err(e) = out.write_all(&chunk) {
                    fail(&e);
                }
            }
            Cmd::Flush(reply) => {
                let r = out.flush();
                count(&out);
                if let Err(e) = &r {
                    fail(e);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Cmd::Rotate(reply) => {
                let r = rotate_file(&mut out, path);
                count(&out);
                if let Err(e) = &r {
                    fail(e);
                }
                let _ = reply.send(r);
            }
            Cmd::Finish(reply) => {
                let r = out.try_finish().and_then(|()| out.get_mut().flush());
                let _ = reply.send(r);
                return;
            }
        }
        count(&out);
    }
    // the loop went without finishing (a panic): what is buffered is still written
    let _ = out.try_finish();
}

/// `FILE` becomes `FILE.1` (an older one goes) and a new `FILE` starts.
fn rotate_file(out: &mut GzEncoder<Counted>, path: &Path) -> std::io::Result<()> {
    let next = path.with_extension("rotating");
    let _ = std::fs::remove_file(&next);
    let fresh = create(&next)?;
    let mut old = std::mem::replace(out, fresh);
    old.try_finish()?;
    old.get_mut().flush()?;
    std::fs::rename(path, rotated(path))?;
    std::fs::rename(&next, path)
}

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
fn metrics_from(
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

/// Why a recording cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: not a ktriage recording line: {source}")]
    Line {
        path: String,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{path}: not a ktriage recording (no header line)")]
    NoHeader { path: String },
    #[error("{path}: recording format {found}, this ktriage reads {VERSION}")]
    Version { path: String, found: u32 },
}

/// A recording read back.
#[derive(Debug, Clone)]
pub struct Recording {
    pub header: Header,
    pub items: Vec<Item>,
}

impl Recording {
    /// Read a recording (a file cut short by a crash reads up to its last whole line).
    pub fn read(path: &Path) -> Result<Recording, ReadError> {
        let p = path.display().to_string();
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: p.clone(),
            source,
        })?;
        let mut items = Vec::new();
        for (i, line) in BufReader::new(MultiGzDecoder::new(file))
            .lines()
            .enumerate()
        {
            let line = match line {
                Ok(l) => l,
                // a recording cut short (the console was killed): what came before stands
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(source) if i > 0 => {
                    tracing::warn!(path = %p, error = %source, "recording cut short");
                    break;
                }
                Err(source) => {
                    return Err(ReadError::Io {
                        path: p.clone(),
                        source,
                    });
                }
            };
            match serde_json::from_str::<Item>(&line) {
                Ok(item) => items.push(item),
                // the last line of a recording whose console was killed mid-write
                Err(e) if e.is_eof() => break,
                Err(source) => {
                    return Err(ReadError::Line {
                        path: p.clone(),
                        line: i + 1,
                        source,
                    });
                }
            }
        }
        let header = match items.first() {
            Some(Item::Header(h)) => h.clone(),
            _ => return Err(ReadError::NoHeader { path: p }),
        };
        if header.version != VERSION {
            return Err(ReadError::Version {
                path: p,
                found: header.version,
            });
        }
        Ok(Recording { header, items })
    }

    /// The last moment recorded.
    pub fn end(&self) -> DateTime<Utc> {
        self.items
            .iter()
            .filter_map(Item::at)
            .max()
            .unwrap_or(self.header.started_at)
    }
}

/// The model a recording starts from (read-only: the player has no cluster client).
pub fn start_model(header: &Header, keymap: crate::shared::keymap::Keymap) -> Model {
    let cluster = ClusterInfo {
        read_only: true,
        ..header.cluster.clone()
    };
    let mut model = Model::new(cluster, keymap, header.started_at).with_tuning(header.tuning);
    if let Some(a) = &header.etcd {
        model.etcd.configure(a.clone(), header.started_at);
    }
    model
}

/// A console started (a later session appended to the file, or a rotated file's start): the model
/// it started with; the timeline and what the viewer set on screen carry on.
fn restart(model: &mut Model, derived: &mut Derived, h: &Header) {
    let mut fresh = start_model(h, model.keymap.clone());
    fresh.ui = std::mem::take(&mut model.ui);
    fresh.timeline = std::mem::take(&mut model.timeline);
    fresh.own_actions = std::mem::take(&mut model.own_actions);
    *model = fresh;
    *derived = Derived::default();
}

/// Apply one item as the recorded console did. Returns the findings of an evaluation with what
/// was recorded for it (`None` in the recording: the same as the last).
pub fn apply(
    model: &mut Model,
    derived: &mut Derived,
    item: &Item,
) -> Option<(DateTime<Utc>, Option<Digest>)> {
    match item {
        Item::Header(h) => {
            restart(model, derived, h);
            None
        }
        Item::Msg { at, msg } => {
            let _ = apply_in(model, derived, msg.clone(), *at);
            None
        }
        Item::Settle { at, findings } => {
            model.findings_stale = true;
            settle_in(model, derived, *at);
            Some((*at, findings.clone()))
        }
        Item::Metrics {
            at,
            pods,
            pods_gone,
            nodes,
            nodes_gone,
        } => {
            let snap = metrics_from(model.top.metrics(), pods, pods_gone, nodes, nodes_gone);
            let _ = apply_in(model, derived, Msg::Metrics(snap), *at);
            None
        }
        Item::Own { entry, id } => {
            if let Some(id) = id {
                model.own_actions.insert(id.clone());
                model.timeline.forget_other(id);
            }
            if matches!(entry.kind, Kind::Action | Kind::Outcome) {
                model.timeline.push(entry.clone());
            }
            None
        }
    }
}

/// One evaluation where the replay disagrees with the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub at: DateTime<Utc>,
    pub recorded: Digest,
    pub replayed: Digest,
}

/// The whole recording through the rules, as fast as it goes: the model at its end and every
/// evaluation whose findings differ from what was recorded at that moment.
pub fn replay_all(rec: &Recording, until: Option<DateTime<Utc>>) -> (Model, Vec<Mismatch>) {
    let mut model = start_model(&rec.header, crate::shared::keymap::Keymap::default());
    let mut derived = Derived::default();
    let mut recorded: Digest = Vec::new();
    let mut mismatches = Vec::new();
    for item in &rec.items {
        if until.is_some_and(|u| item.at().is_some_and(|t| t > u)) {
            break;
        }
        if let Some((at, findings)) = apply(&mut model, &mut derived, item) {
            if let Some(f) = findings {
                recorded = f;
            }
            let replayed = digest(&model);
            if replayed != recorded {
                mismatches.push(Mismatch {
                    at,
                    recorded: recorded.clone(),
                    replayed,
                });
            }
        }
    }
    (model, mismatches)
}

/// `ktriage timeline FILE`: the timeline of a recording (replayed through the rules) or of an
/// incident snapshot (its Timeline section), on standard output. 0: printed; 2: unreadable.
pub fn timeline_command(args: &crate::cli::TimelineArgs) -> i32 {
    let text = match timeline_text(args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ktriage: {e}");
            return 2;
        }
    };
    print!("{text}");
    0
}

fn timeline_text(args: &crate::cli::TimelineArgs) -> Result<String, String> {
    use crate::cli::TimelineFormat;
    let path = &args.file;
    let mut magic = [0u8; 2];
    {
        use std::io::Read;
        let mut f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = f.read(&mut magic);
    }
    if magic != [0x1f, 0x8b] {
        // an incident snapshot: its Timeline section as written
        let doc = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let Some(start) = doc.find("\n## Timeline") else {
            return Err(format!(
                "{}: neither a recording (--record) nor an incident snapshot with a Timeline section",
                path.display()
            ));
        };
        if args.format == TimelineFormat::Json || args.since.is_some() {
            return Err(format!(
                "{}: an incident snapshot holds its timeline as Markdown; --format json and --since need a recording",
                path.display()
            ));
        }
        let section = &doc[start + 1..];
        let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 4);
        return Ok(section[..end].to_string());
    }
    let rec = Recording::read(path).map_err(|e| e.to_string())?;
    let (model, _) = replay_all(&rec, None);
    let from = args
        .since
        .and_then(|d| chrono::Duration::from_std(d).ok())
        .map(|d| rec.end() - d);
    let entries: Vec<&Entry> = model
        .timeline
        .entries()
        .filter(|e| from.is_none_or(|f| e.at >= f))
        .collect();
    Ok(match args.format {
        TimelineFormat::Markdown => crate::model::timeline::markdown(entries),
        TimelineFormat::Json => {
            let v: Vec<serde_json::Value> = entries
                .into_iter()
                .map(crate::ui::panes::timeline::entry_json)
                .collect();
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
    })
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
