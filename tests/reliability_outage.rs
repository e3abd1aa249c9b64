//! Reliability against a burning API server (issue 12): an outage keeps every pane's last data,
//! marked stale with its age, the status bar says unreachable, the request rate stays bounded, and
//! every watch resumes after the outage within the backoff cap without a restart or a re-list.
//! Also: input stays responsive (key → frame) while every source hangs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "reliability/harness.rs"]
mod harness;
mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use harness::{Harness, screen};
use ktriage::model::SourceState;
use ktriage::msg::Msg;
use ktriage::update::update;
use serde_json::{Value, json};
use support::{control, raw, sim};

fn stale(s: &SourceState) -> bool {
    matches!(
        s,
        SourceState::Failed {
            last_ok: Some(_),
            ..
        }
    )
}

async fn request_log(c: &kube::Client) -> Vec<Value> {
    let (_, _, text) = raw(c, "GET", "/_sim/requests", "", vec![]).await;
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Outage length: 6 s by default (the same backoff steps as a long one, without the wall clock);
/// `KTRIAGE_OUTAGE_SECS=60` runs the full minute the README's bound is stated for.
fn outage_secs() -> f64 {
    std::env::var("KTRIAGE_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0)
}

/// Attempts one source may make in `t` seconds: watches and the API probe back off exponentially
/// from 0.8 s (plus the one in flight); pollers keep an interval of at least 5 s.
fn attempts_bound(t: f64) -> u64 {
    let backoff = 2.0 + (t / 0.8 + 1.0).log2().ceil();
    let poller = (t / 5.0).ceil() + 1.0;
    backoff.max(poller) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_stale_data_bounds_requests_and_resumes_without_relist() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let mut app = Harness::start(&h, "admin").await;
    app.until("first sync", Duration::from_secs(20), |m| {
        m.api.state.is_ok() && m.namespaces.state.is_ok() && m.nodes.state.is_ok()
    })
    .await;
    let namespaces = app.model.namespaces.store.len();
    let nodes = app.model.nodes.store.len();
    assert!(namespaces > 0 && nodes > 0);
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;

    let secs = outage_secs();
    control(&admin, "fault", json!({"outage_seconds": secs})).await;
    let began = Instant::now();
    app.until(
        "every Kubernetes source stale and the API unreachable",
        Duration::from_secs(20),
        |m| {
            stale(&m.namespaces.state)
                && stale(&m.nodes.state)
                && m.api.state.label(Utc::now()).starts_with("unreachable")
        },
    )
    .await;
    // the last data stays, marked stale with its age; the status bar says unreachable
    assert_eq!(app.model.namespaces.store.len(), namespaces);
    assert_eq!(app.model.nodes.store.len(), nodes);
    let label = app.model.namespaces.state.label(Utc::now());
    assert!(label.contains("stale "), "{label}");
    let mut shown = app.model.clone();
    update(&mut shown, Msg::Resize(120, 40), Utc::now());
    let text = screen(&shown, 120, 40);
    assert!(text.contains("API unreachable"), "{text}");
    // slow or dead sources never block input: key → frame
    let t0 = Instant::now();
    update(
        &mut shown,
        Msg::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE)),
        Utc::now(),
    );
    let after_key = screen(&shown, 120, 40);
    let key_to_frame = t0.elapsed();
    assert!(
        key_to_frame < Duration::from_millis(100),
        "{key_to_frame:?}"
    );
    assert!(after_key.contains("stale"), "{after_key}");
    eprintln!("key → frame during the outage: {key_to_frame:?}");

    // no exit: sources keep running through the outage; then they resume
    let outage = Duration::from_secs_f64(secs);
    // the fault's own duration (the control channel is refused during the outage too)
    while began.elapsed() < outage {
        app.pump(Duration::from_millis(100)).await;
        assert!(
            stale(&app.model.namespaces.state),
            "the pane must stay stale during the outage"
        );
    }
    let ended = Instant::now();
    let refused = {
        let (_, _, t) = raw(&admin, "GET", "/_sim/faults", "", vec![]).await;
        serde_json::from_str::<Value>(&t).unwrap()["outage_refused"]
            .as_u64()
            .unwrap()
    };
    app.until(
        "every watch and the probe back within the backoff cap",
        Duration::from_secs(35),
        |m| m.api.state.is_ok() && m.namespaces.state.is_ok() && m.nodes.state.is_ok(),
    )
    .await;
    let resumed = ended.elapsed();
    eprintln!(
        "outage {secs} s: {refused} refused connections/requests from {} sources; resumed {resumed:?} after it ended",
        app.sources()
    );
    assert!(resumed <= Duration::from_secs(30), "{resumed:?}");
    let bound = app.sources() as u64 * attempts_bound(secs);
    assert!(refused <= bound, "{refused} attempts > bound {bound}");
    assert_eq!(app.model.namespaces.store.len(), namespaces);
    // resumed from the kept resourceVersion: the watches re-watched, nobody re-listed
    let log = request_log(&admin).await;
    for path in ["/api/v1/namespaces", "/api/v1/nodes"] {
        let lists: Vec<&Value> = log
            .iter()
            .filter(|e| e["path"] == path && e["method"] == "GET")
            .filter(|e| !e["query"].as_str().unwrap_or("").contains("watch=true"))
            // the Namespaces pane's content poll of Terminating namespaces is not a watch's re-list
            .filter(|e| {
                !e["query"]
                    .as_str()
                    .unwrap_or("")
                    .contains("fieldSelector=status.phase")
            })
            .collect();
        assert!(
            lists.is_empty(),
            "re-list of {path} after the outage: {lists:?}"
        );
        assert!(
            log.iter()
                .any(|e| e["path"] == path
                    && e["query"].as_str().unwrap_or("").contains("watch=true")),
            "no re-watch of {path}: {log:?}"
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_resource_version_relists_and_recovers() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let mut app = Harness::start(&h, "admin").await;
    app.until("first sync", Duration::from_secs(20), |m| {
        m.namespaces.state.is_ok()
    })
    .await;
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;
    control(
        &admin,
        "fault",
        // enough forced 410s for every watcher that reconnects after the drop (~15 of them)
        json!({"gone_watches": 64, "drop_watches": true}),
    )
    .await;
    let mk = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "after-gone"}});
    control(&admin, "apply", mk).await;
    app.until(
        "the namespace created after 410",
        Duration::from_secs(30),
        |m| m.namespaces.store.get("after-gone").is_some() && m.namespaces.state.is_ok(),
    )
    .await;
    let log = request_log(&admin).await;
    // the namespaces watch's own list (not the content poll of Terminating namespaces)
    let relisted = log.iter().any(|e| {
        let q = e["query"].as_str().unwrap_or("");
        e["path"] == "/api/v1/namespaces"
            && !q.contains("watch=true")
            && !q.contains("fieldSelector=status.phase")
    });
    assert!(relisted, "a 410 must re-list the namespaces watch");
    h.shutdown().await;
}
