//! The etcd pods' logs, followed: one `follow` stream per etcd pod, named by the etcd pods watch
//! (no LIST of its own), resumed with `sinceTime` after the newest line seen when the stream ends
//! or drops. Bytes follow new log lines, not time: an idle console sends no log request at all.
//!
//! While the API server does not answer, the followers take turns: one reconnect attempt at a
//! time, the next after the watchers' backoff (0.8 s doubling to 30 s), so an outage costs as few
//! requests as one watch (7 in 60 s), however many etcd pods there are.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::SourceCtx;
use super::resume::WatchBackoff;
use crate::model::etcd::{EtcdMsg, EtcdPodRow};
use crate::model::{Delta, Failure, FailureKind, SourceId};
use crate::msg::Msg;

const NAMESPACE: &str = "kube-system";
/// Lines asked for when a stream opens: a split brain writes up to ~120 lines/s; the aggregator
/// keeps counts, not lines.
pub const TAIL: i64 = 2000;
/// Lines reach the loop in batches: at most this long after a batch's first line…
const BATCH_WAIT: Duration = Duration::from_millis(500);
/// …or as soon as it holds this many.
const BATCH_MAX: usize = 1000;
/// A stream silent this long is ended and resumed: a connection that died without closing never
/// says so. A quiet etcd costs one request per pod per this period.
pub const SILENT: Duration = Duration::from_secs(300);
/// A stream that ended sooner than this after it opened (a container that exits at once, a pod
/// not running yet) is opened again only after this long.
pub const SHORT: Duration = Duration::from_secs(5);

/// The etcd pods' names as the etcd pods watch knows them (`observe` each delta it applies); the
/// log followers read them. `None` until the watch listed once.
#[derive(Clone)]
pub struct PodNames {
    tx: Arc<watch::Sender<Option<BTreeSet<String>>>>,
    /// A re-list in progress.
    pending: Arc<Mutex<Option<BTreeSet<String>>>>,
}

impl Default for PodNames {
    fn default() -> Self {
        PodNames {
            tx: Arc::new(watch::Sender::new(None)),
            pending: Arc::default(),
        }
    }
}

impl PodNames {
    pub fn subscribe(&self) -> watch::Receiver<Option<BTreeSet<String>>> {
        self.tx.subscribe()
    }

    pub fn observe(&self, d: &Delta<EtcdPodRow>) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match d {
            Delta::Init => *pending = Some(BTreeSet::new()),
            Delta::InitApply(row) => {
                if let Some(p) = pending.as_mut() {
                    p.insert(row.name.clone());
                }
            }
            Delta::InitDone => {
                if let Some(names) = pending.take() {
                    self.tx.send_if_modified(|n| {
                        let changed = n.as_ref() != Some(&names);
                        *n = Some(names);
                        changed
                    });
                }
            }
            // before the first list these are in it
            Delta::Apply(row) => {
                self.tx
                    .send_if_modified(|n| n.as_mut().is_some_and(|n| n.insert(row.name.clone())));
            }
            Delta::Delete(key) => {
                let name = key.rsplit('/').next().unwrap_or(key);
                self.tx
                    .send_if_modified(|n| n.as_mut().is_some_and(|n| n.remove(name)));
            }
        }
    }
}

/// Reconnects while the API server does not answer: one at a time, after the watchers' backoff.
/// `None` while it answers (no wait).
type Turns = Arc<tokio::sync::Mutex<Option<WatchBackoff>>>;

/// Follow every etcd pod's log while the pods watch names it. The logs input answers
/// (`LogsRound`) once every named pod's stream has delivered what it had (or its log could not be
/// read for a reason other than an outage), and again after each later reopening: a report waits
/// for it, so it holds every pod's tail.
pub async fn run(ctx: SourceCtx, mut names: watch::Receiver<Option<BTreeSet<String>>>) {
    let turns = Turns::default();
    let (settle, mut settled_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut settled: BTreeSet<String> = BTreeSet::new();
    let mut followers: BTreeMap<String, tokio::task::AbortHandle> = BTreeMap::new();
    let mut set = JoinSet::new();
    loop {
        let listed = names.borrow_and_update().clone();
        let wanted = listed.clone().unwrap_or_default();
        followers.retain(|name, handle| {
            let keep = wanted.contains(name) && !handle.is_finished();
            if !keep {
                handle.abort();
            }
            keep
        });
        settled.retain(|name| wanted.contains(name));
        for name in &wanted {
            if let std::collections::btree_map::Entry::Vacant(e) = followers.entry(name.clone()) {
                let follower = follow(ctx.clone(), name.clone(), turns.clone(), settle.clone());
                e.insert(set.spawn(follower));
            }
        }
        // listed, and no etcd pod (etcd outside pods, or not this cluster's business): answered
        if listed.is_some_and(|l| l.is_empty()) && !send(&ctx, EtcdMsg::LogsRound).await {
            return;
        }
        tokio::select! {
            changed = names.changed() => if changed.is_err() { return },
            Some(name) = settled_rx.recv() => {
                settled.insert(name);
                if wanted.is_subset(&settled) && !send(&ctx, EtcdMsg::LogsRound).await {
                    return;
                }
            }
            // a follower returns only when the loop is gone (an aborted one was a pod removed)
            Some(done) = set.join_next() => if done.is_ok() { return },
        }
    }
}

async fn send(ctx: &SourceCtx, m: EtcdMsg) -> bool {
    ctx.tx.send(Msg::Etcd(Box::new(m))).await.is_ok()
}

/// Follow one pod's `etcd` container until the loop is gone.
async fn follow(
    ctx: SourceCtx,
    name: String,
    turns: Turns,
    settle: tokio::sync::mpsc::UnboundedSender<String>,
) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    let pod = format!("{NAMESPACE}/{name}");
    let mut newest: Option<DateTime<Utc>> = None;
    // this pod's own backoff, for answers that are not an outage (a 4xx, a container not started)
    let mut own = WatchBackoff::default();
    loop {
        let opened = open(&api, &ctx, &name, newest, &turns).await;
        let started = tokio::time::Instant::now();
        let failure = match opened {
            Ok(reader) => {
                // the pod's log is readable: any earlier error about it is gone
                let ok = EtcdMsg::Logs {
                    pod: pod.clone(),
                    lines: Vec::new(),
                };
                if !send(&ctx, ok).await {
                    return;
                }
                let drained = || {
                    let _ = settle.send(name.clone());
                };
                let after = newest;
                match pump(&ctx, &pod, reader.lines(), after, &mut newest, drained).await {
                    Pumped::Gone => return,
                    Pumped::Ended => None,
                    Pumped::Failed(f) => Some(f),
                }
            }
            Err(f) => Some(f),
        };
        if let Some(failure) = failure {
            let outage = failure.kind == FailureKind::Unreachable;
            // unreachable: the logs input is stale as a whole (the pane keeps its lines)
            if outage {
                let msg = Msg::SourceFailed(SourceId::EtcdLogs, failure.clone());
                if ctx.tx.send(msg).await.is_err() {
                    return;
                }
            }
            let msg = EtcdMsg::LogsFailed {
                pod: pod.clone(),
                failure,
            };
            if ctx.tx.send(Msg::Etcd(Box::new(msg))).await.is_err() {
                return;
            }
            if !outage {
                // answered, if not with the log: the round need not wait for this pod
                let _ = settle.send(name.clone());
                // the next turn waits on this pod's own backoff
                tokio::time::sleep(own.next().unwrap_or(SHORT)).await;
            }
        } else if started.elapsed() < SHORT {
            tokio::time::sleep(SHORT).await;
        }
    }
}

/// Open the follow stream, in turn with the other followers while the API server does not answer.
async fn open(
    api: &Api<Pod>,
    ctx: &SourceCtx,
    name: &str,
    newest: Option<DateTime<Utc>>,
    turns: &Turns,
) -> Result<impl futures::AsyncBufRead + use<>, Failure> {
    let lp = LogParams {
        container: Some("etcd".into()),
        follow: true,
        timestamps: true,
        tail_lines: Some(TAIL),
        since_time: newest.and_then(since_time),
        ..LogParams::default()
    };
    let mut turn = turns.lock().await;
    if let Some(backoff) = turn.as_mut() {
        tokio::time::sleep(backoff.next().unwrap_or(SHORT)).await;
    }
    let failure = match tokio::time::timeout(ctx.request_timeout, api.log_stream(name, &lp)).await {
        Ok(Ok(reader)) => {
            *turn = None;
            return Ok(reader);
        }
        Ok(Err(e)) => super::classify(&e),
        Err(_) => Failure {
            kind: FailureKind::Unreachable,
            message: "opening the log stream timed out".into(),
        },
    };
    if failure.kind == FailureKind::Unreachable {
        turn.get_or_insert_with(WatchBackoff::default);
    }
    Err(failure)
}

/// `sinceTime` for a resume: the newest line's second, rounded down (the API takes whole seconds;
/// lines of that second already seen are dropped by [`newer`]).
fn since_time(t: DateTime<Utc>) -> Option<k8s_openapi::jiff::Timestamp> {
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).ok()
}

enum Pumped {
    /// The stream ended (the server closed it, or it was silent for [`SILENT`]): resume.
    Ended,
    Failed(Failure),
    /// The loop is gone.
    Gone,
}

/// Forward the lines newer than `after` in batches until the stream ends; `newest` follows the
/// newest line's time (where the next stream resumes). `drained` is called once what the stream
/// had at its start was forwarded: the first moment no line came for [`BATCH_WAIT`], or the end.
async fn pump<S>(
    ctx: &SourceCtx,
    pod: &str,
    mut lines: S,
    after: Option<DateTime<Utc>>,
    newest: &mut Option<DateTime<Utc>>,
    drained: impl FnOnce(),
) -> Pumped
where
    S: futures::Stream<Item = std::io::Result<String>> + Unpin,
{
    let mut batch: Vec<String> = Vec::new();
    let mut first: Option<tokio::time::Instant> = None;
    let mut drained = Some(drained);
    loop {
        let wait = match first {
            Some(t) => BATCH_WAIT.saturating_sub(t.elapsed()),
            None if drained.is_some() => BATCH_WAIT,
            None => SILENT,
        };
        let next = tokio::time::timeout(wait, lines.next()).await;
        let timed_out = next.is_err();
        let end = match next {
            Ok(Some(Ok(line))) => {
                // lines of the resumed second that were seen already are dropped
                let (mut kept, n) = newer(&line, after);
                *newest = (*newest).max(n);
                if !kept.is_empty() {
                    first.get_or_insert_with(tokio::time::Instant::now);
                    batch.append(&mut kept);
                }
                if batch.len() < BATCH_MAX {
                    continue;
                }
                None
            }
            Ok(Some(Err(e))) => Some(Pumped::Failed(Failure {
                kind: FailureKind::Unreachable,
                message: format!("log stream: {e}"),
            })),
            Ok(None) => Some(Pumped::Ended),
            // silent for SILENT since the last batch: a connection that may be dead
            Err(_) if first.is_none() && drained.is_none() => Some(Pumped::Ended),
            // a batch is due, or the first pause
            Err(_) => None,
        };
        if !batch.is_empty() {
            first = None;
            let msg = EtcdMsg::Logs {
                pod: pod.to_string(),
                lines: std::mem::take(&mut batch),
            };
            if ctx.tx.send(Msg::Etcd(Box::new(msg))).await.is_err() {
                return Pumped::Gone;
            }
        }
        // the burst a stream starts with is over: a batch flushed by time (not by size), a pause,
        // or the end
        if (timed_out || end.is_some())
            && let Some(done) = drained.take()
        {
            done();
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// The Kubernetes timestamp in front of a `timestamps=true` log line.
fn line_ts(line: &str) -> Option<DateTime<Utc>> {
    let first = line.split(' ').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Lines strictly newer than `after` (a resume's `sinceTime` has one-second granularity), and the
/// newest time seen.
pub fn newer(text: &str, after: Option<DateTime<Utc>>) -> (Vec<String>, Option<DateTime<Utc>>) {
    let mut newest = after;
    let lines = text
        .lines()
        .filter(|l| {
            let ts = line_ts(l);
            let keep = match (ts, after) {
                (Some(t), Some(a)) => t > a,
                _ => true,
            };
            if let Some(t) = ts {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
            keep
        })
        .map(str::to_string)
        .collect();
    (lines, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_log_lines() {
        let text =
            "2026-11-24T17:19:20.000000001Z a\n2026-11-24T17:19:21.5Z b\n2026-11-24T17:19:22Z c\n";
        let (lines, newest) = newer(text, None);
        assert_eq!(lines.len(), 3);
        let (again, _) = newer(text, line_ts("2026-11-24T17:19:21.5Z x"));
        assert_eq!(again, vec!["2026-11-24T17:19:22Z c"]);
        assert_eq!(newest, line_ts("2026-11-24T17:19:22Z x"));
    }

    #[test]
    fn a_resume_asks_from_the_newest_lines_whole_second() {
        let t = line_ts("2026-11-24T17:19:21.9Z x").unwrap_or_default();
        let since = since_time(t).map(|s| s.to_string());
        assert_eq!(since.as_deref(), Some("2026-11-24T17:19:21Z"));
    }

    #[test]
    fn names_follow_the_pods_watch() {
        let names = PodNames::default();
        let rx = names.subscribe();
        let row = |n: &str| EtcdPodRow {
            namespace: NAMESPACE.into(),
            name: n.into(),
            ..EtcdPodRow::default()
        };
        names.observe(&Delta::Init);
        names.observe(&Delta::InitApply(row("etcd-cp-1")));
        names.observe(&Delta::InitApply(row("etcd-cp-2")));
        assert!(rx.borrow().is_none(), "a list in progress is not applied");
        names.observe(&Delta::InitDone);
        names.observe(&Delta::Apply(row("etcd-cp-3")));
        names.observe(&Delta::Delete("kube-system/etcd-cp-1".into()));
        let now: Vec<String> = rx.borrow().iter().flatten().cloned().collect();
        assert_eq!(now, vec!["etcd-cp-2", "etcd-cp-3"]);
        // a resumed watch's InitDone without a list changes nothing
        names.observe(&Delta::InitDone);
        assert_eq!(rx.borrow().as_ref().map(BTreeSet::len), Some(2));
    }
}
