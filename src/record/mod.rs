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
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use crate::derived::Derived;
use crate::model::etcd::AccessInfo;
use crate::model::timeline::{Entry, Kind};
use crate::model::top::Usage;
use crate::model::{ClusterInfo, Model};
use crate::msg::Msg;
use crate::shared::finding::Severity;
use crate::update::{apply_in, settle_in};

mod recorder;
mod writer;

use recorder::metrics_from;
pub use recorder::{FLUSH_EVERY, Recorder, rotated};

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
