//! WATCH: newline-delimited JSON events from the change history and the live broadcast, with
//! bookmarks, `sendInitialEvents`, `timeoutSeconds`, 410 Gone for compacted resourceVersions, and
//! the watch faults (dropped, hung, forced 410). A hung watch is what a stuck connection looks like
//! to a client: headers sent, then nothing at all (no event, no bookmark) and no end, not even at
//! `timeoutSeconds`; only the client can end it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::api::{ApiError, Body, stream_response};
use super::handlers::{Filter, Target, with_type};
use super::server::{Req, Signal, Sim};
use super::store::{Change, Obj, meta_str};
use super::table;

struct Shape {
    table: bool,
    include: Option<String>,
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

#[derive(serde::Serialize)]
struct Ev<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

fn event(t: &Target, shape: &Shape, kind: &str, obj: &Obj) -> Bytes {
    let object: std::borrow::Cow<'_, Value> = if shape.table {
        let rv = meta_str(obj, "resourceVersion").to_string();
        std::borrow::Cow::Owned(table::table(
            &t.def,
            std::slice::from_ref(obj),
            &rv,
            shape.include.as_deref(),
            true,
        ))
    } else {
        with_type(&t.def, obj)
    };
    let mut v = serde_json::to_vec(&Ev {
        kind,
        object: &object,
    })
    .unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(t: &Target, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        &json!({"type": "BOOKMARK", "object": {"kind": t.def.kind, "apiVersion": t.def.api_version(), "metadata": meta}}),
    )
}

fn gone_event(e: &ApiError) -> Bytes {
    line(&json!({"type": "ERROR", "object": e.status()}))
}

/// How a change looks to a filtered watch: an object entering the selection is ADDED, one leaving
/// it is DELETED, as on a real server.
fn visible(
    c: &Change,
    filter: &Filter,
    in_scope: &impl Fn(&Value) -> bool,
) -> Option<&'static str> {
    if !in_scope(&c.obj) {
        return None;
    }
    let now = filter.matches(&c.obj);
    let before = c.old.as_ref().map(|o| filter.matches(o));
    match (c.kind, before, now) {
        ("MODIFIED", Some(false), true) => Some("ADDED"),
        ("MODIFIED", Some(true), false) => Some("DELETED"),
        (k, _, true) => Some(k),
        _ => None,
    }
}

/// Starts a watch stream.
pub fn start(sim: &Arc<Sim>, req: &Req, t: &Target) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_req(req)?;
    let rv_param = req.q("resourceVersion").unwrap_or("").to_string();
    let bookmarks = req.flag("allowWatchBookmarks");
    let send_initial = req.flag("sendInitialEvents");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s.min(86_400 * 365)));
    let shape = Shape {
        table: table::wants_table(&req.accept),
        include: req.q("includeObject").map(str::to_string),
    };
    let (forced_gone, interval) = {
        let mut f = sim.faults();
        (f.take_gone(), f.bookmark_interval)
    };
    let key = t.def.key();
    let ns = t.ns.clone();
    let in_scope = {
        let ns = ns.clone();
        move |o: &Value| ns.as_deref().is_none_or(|n| meta_str(o, "namespace") == n)
    };
    let mut first: Vec<Bytes> = Vec::new();
    let mut end_now = false;
    let (start_rv, changes, signals) = {
        let st = sim.state();
        let current = st.store.rv();
        if forced_gone {
            let oldest = st.store.compacted().max(current);
            let requested = rv_param.parse::<u64>().unwrap_or(0);
            first.push(gone_event(&ApiError::expired(requested, oldest)));
            end_now = true;
        } else if rv_param.is_empty() || rv_param == "0" || send_initial {
            for o in st.store.list(&key, ns.as_deref()) {
                if filter.matches(o) {
                    first.push(event(t, &shape, "ADDED", o));
                }
            }
            if send_initial && bookmarks {
                first.push(bookmark(t, current, true));
            }
        } else {
            let requested: u64 = rv_param.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resource version: {rv_param}"))
            })?;
            if requested < st.store.compacted() {
                first.push(gone_event(&ApiError::expired(
                    requested,
                    st.store.compacted(),
                )));
                end_now = true;
            } else {
                for c in st.store.changes_since(&key, requested) {
                    if let Some(kind) = visible(&c, &filter, &in_scope) {
                        first.push(event(t, &shape, kind, &c.obj));
                    }
                }
            }
        }
        (current, st.store.subscribe(), sim.signals.subscribe())
    };
    let (tx, rx) = mpsc::channel::<Bytes>(512);
    let sim = sim.clone();
    let t = t.clone();
    tokio::spawn(async move {
        if sim.faults().hang_watches {
            tx.closed().await;
            return;
        }
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        if end_now {
            return;
        }
        pump(
            sim, t, shape, filter, in_scope, start_rv, bookmarks, interval, timeout, changes,
            signals, tx,
        )
        .await;
    });
    Ok(stream_response(200, "application/json", rx))
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    sim: Arc<Sim>,
    t: Target,
    shape: Shape,
    filter: Filter,
    in_scope: impl Fn(&Value) -> bool,
    start_rv: u64,
    bookmarks: bool,
    interval: Duration,
    timeout: Option<Duration>,
    mut changes: broadcast::Receiver<Arc<super::store::Change>>,
    mut signals: broadcast::Receiver<Signal>,
    tx: mpsc::Sender<Bytes>,
) {
    let key = t.def.key();
    let mut last_rv = start_rv;
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::from_secs(86_400 * 365)));
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        if sim.faults().hang_watches {
            // hung for good: silent and open until the client gives up
            tx.closed().await;
            return;
        }
        let out = tokio::select! {
            _ = tx.closed() => return,
            _ = &mut deadline => return,
            c = changes.recv() => match c {
                Ok(c) => {
                    if c.rv <= last_rv {
                        continue;
                    }
                    last_rv = c.rv;
                    if c.res != key {
                        continue;
                    }
                    let Some(kind) = visible(&c, &filter, &in_scope) else {
                        continue;
                    };
                    event(&t, &shape, kind, &c.obj)
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(gone_event(&ApiError::expired(last_rv, last_rv + 1))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            s = signals.recv() => match s {
                Ok(Signal::DropWatches) | Err(broadcast::error::RecvError::Closed) => return,
                Ok(Signal::Bookmark) if bookmarks => bookmark(&t, last_rv, false),
                _ => continue,
            },
            _ = ticker.tick() => {
                if !bookmarks {
                    continue;
                }
                bookmark(&t, last_rv, false)
            }
        };
        if sim.faults().hang_watches {
            // hung while this event was on its way: it is never sent
            tx.closed().await;
            return;
        }
        if tx.send(out).await.is_err() {
            return;
        }
    }
}
