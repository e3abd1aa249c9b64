//! Nothing polled that can be watched (issue 21 §3): once synced, an idle console's only periodic
//! requests are the API heartbeat (`/readyz`) and metrics.k8s.io; the etcd pods' logs arrive over
//! open `follow` streams (bytes follow new lines), and a dropped stream resumes from its newest line
//! (`sinceTime`) instead of reading its tail again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "reliability/harness.rs"]
mod harness;
mod support;

use std::time::{Duration, Instant};

use harness::{Harness, Record, Sent};
use ktriage::model::Model;
use serde_json::json;
use support::{control, sim};

fn has(q: &str, part: &str) -> bool {
    q.split('&').any(|p| p == part)
}

fn sent_since(sent: &Record, t0: Instant) -> Vec<Sent> {
    sent.lock()
        .unwrap()
        .iter()
        .filter(|s| s.at >= t0)
        .cloned()
        .collect()
}

/// Lines the console has read from every etcd pod's log.
fn etcd_lines(m: &Model) -> u64 {
    m.etcd.logs.values().map(|g| g.lines).sum()
}

fn is_etcd_log(s: &Sent) -> bool {
    s.path.ends_with("/log") && has(&s.query, "container=etcd")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_console_asks_only_the_heartbeat_and_metrics_and_follows_etcd_logs() {
    // a split brain: every member writes lines every second
    let h = sim("etcd-split-brain").await;
    let (mut app, sent) = Harness::start_recorded(&h, "admin").await;
    app.until(
        "synced, with etcd log lines",
        Duration::from_secs(30),
        |m| {
            m.api.state.is_ok()
                && m.etcd.pods_state.is_ok()
                && m.etcd.snapshots.is_some()
                && m.etcd.logs.len() == m.etcd.pods.len()
                && etcd_lines(m) > 0
        },
    )
    .await;
    let pods = app.model.etcd.pods.len();
    assert!(pods >= 3, "{pods} etcd pods");
    let opened: Vec<Sent> = sent_since(&sent, Instant::now() - Duration::from_secs(3600))
        .into_iter()
        .filter(is_etcd_log)
        .collect();
    assert!(
        opened
            .iter()
            .all(|s| has(&s.query, "follow=true") && has(&s.query, "timestamps=true")),
        "{opened:?}"
    );
    // settle, then watch the console for a while
    app.pump(Duration::from_secs(2)).await;
    let (t0, lines0) = (Instant::now(), etcd_lines(&app.model));
    app.pump(Duration::from_secs(12)).await;
    let during = sent_since(&sent, t0);
    let polled: Vec<&Sent> = during
        .iter()
        .filter(|s| {
            !(s.path == "/readyz"
                || s.path.starts_with("/apis/metrics.k8s.io/")
                || has(&s.query, "watch=true"))
        })
        .collect();
    assert!(
        polled.is_empty(),
        "an idle console polled what it could watch or follow: {polled:?}"
    );
    // the heartbeat every 2 s (the harness's api_probe), nothing more often
    let heartbeats = during.iter().filter(|s| s.path == "/readyz").count();
    assert!(
        (4..=8).contains(&heartbeats),
        "{heartbeats} /readyz in 12 s"
    );
    // the lines kept coming over the streams opened before the window
    assert!(
        etcd_lines(&app.model) > lines0 + 100,
        "{} lines before, {} after",
        lines0,
        etcd_lines(&app.model)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_etcd_log_stream_resumes_from_its_newest_line() {
    let h = sim("etcd-split-brain").await;
    let admin = support::client(&h).await;
    let (mut app, sent) = Harness::start_recorded(&h, "admin").await;
    app.until("etcd log lines", Duration::from_secs(30), |m| {
        m.etcd.pods.len() >= 3 && m.etcd.logs.len() == m.etcd.pods.len() && etcd_lines(m) > 0
    })
    .await;
    // the members' rate (streams that lived past the short-stream guard reconnect at once)
    let (r0, before) = (Instant::now(), etcd_lines(&app.model));
    app.pump(Duration::from_secs(10)).await;
    let pods = app.model.etcd.pods.len();
    let (t0, lines0) = (Instant::now(), etcd_lines(&app.model));
    let rate = (lines0 - before) as f64 / r0.elapsed().as_secs_f64();
    assert!(rate > 10.0, "{rate} lines/s");
    control(&admin, "fault", json!({"drop_watches": true})).await;
    app.until(
        "every etcd log stream opened again",
        Duration::from_secs(20),
        |_| {
            sent_since(&sent, t0)
                .iter()
                .filter(|s| is_etcd_log(s))
                .count()
                >= pods
        },
    )
    .await;
    app.pump(Duration::from_secs(2)).await;
    let reopened: Vec<Sent> = sent_since(&sent, t0)
        .into_iter()
        .filter(is_etcd_log)
        .collect();
    assert!(
        reopened
            .iter()
            .all(|s| s.query.contains("sinceTime=") && has(&s.query, "follow=true")),
        "a resume must ask from the newest line seen: {reopened:?}"
    );
    // and no line is counted twice: a line the server sends again (the resumed second; any line,
    // were `sinceTime` lost) is dropped by its timestamp, so the model gets the few seconds of new
    // ones, not every line so far again (over 10 s worth: the tail is 2,000 lines a pod)
    let new = etcd_lines(&app.model) - lines0;
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        (new as f64) < rate * secs * 1.5 + 20.0,
        "{new} lines in {secs:.1} s after the drop at {rate:.0} lines/s: old lines were read again"
    );
    assert!(new > 0, "no line after the resume");
}
