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
use harness::{Harness, Sent, screen};
use ktriage::kube::sources::resume::{WATCH_BACKOFF_CAP, WATCH_BACKOFF_START};
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

/// How a source behaves while the API server does not answer, as designed.
#[derive(Debug, Clone, Copy)]
enum Design {
    /// `n` watch streams (kube-runtime watcher with [`WatchBackoff`]): the stream the outage closed
    /// is re-watched at once, then once after each delay of 0.8 s doubling to 30 s, each delay at
    /// least 80 % of its nominal value (jitter only shortens).
    Watch(u64),
    /// The API probe: retried after 1 s, then after each delay of `next_backoff` (doubling to the
    /// 30 s cap, at least 95 % of the doubled value).
    Probe,
    /// A poller: one round every `Duration` (after the round), one request per round while the API
    /// does not answer (a round stops at its first unanswered request).
    Poll(Duration),
}

impl Design {
    /// The most requests this source can send in `t` seconds of outage (the round or attempt in
    /// flight when the outage began included).
    fn bound(self, t: f64) -> u64 {
        match self {
            Design::Watch(n) => {
                let (mut k, mut at) = (1, 0.0);
                let mut nominal = WATCH_BACKOFF_START.as_secs_f64();
                loop {
                    at += nominal * 0.8;
                    if at > t {
                        return n * k;
                    }
                    k += 1;
                    nominal = (nominal * 2.0).min(WATCH_BACKOFF_CAP.as_secs_f64());
                }
            }
            Design::Probe => {
                let cap = 30.0;
                let (mut k, mut at, mut wait) = (1, 0.0, 1.0);
                loop {
                    at += wait;
                    if at > t {
                        return k;
                    }
                    k += 1;
                    wait = (wait * 2.0f64).min(cap) * 0.95;
                }
            }
            Design::Poll(every) => (t / every.as_secs_f64()).floor() as u64 + 1,
        }
    }
}

/// Every request a source may send, by what it asks for. A request no source claims fails the test:
/// a new source must be designed into the bound.
struct Source {
    name: &'static str,
    design: Design,
    claims: fn(&Sent, &[String]) -> bool,
}

fn has(q: &str, part: &str) -> bool {
    q.split('&').any(|p| p == part)
}

fn watch(s: &Sent) -> bool {
    has(&s.query, "watch=true")
}

/// The 20 tasks `start_all` starts, with how each behaves in an outage (`crash_logs` is a log
/// poller fed the crash-looping containers by the loop, no watch of its own; the content scan is one
/// task with a watch and a poller).
fn sources() -> Vec<Source> {
    use ktriage::kube::sources::{crash_logs, namespaces};
    const TERMINATING: &str = "fieldSelector=status.phase%3DTerminating";
    const ETCD: &str = "labelSelector=component%3Detcd";
    vec![
        Source {
            // /version until it answers, then the /readyz heartbeat (which holds the etcd check)
            name: "api probe (/version, /readyz)",
            design: Design::Probe,
            claims: |s, _| s.path == "/version" || s.path == "/readyz",
        },
        Source {
            name: "namespaces",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/namespaces" && !has(&s.query, TERMINATING),
        },
        Source {
            name: "nodes",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/nodes",
        },
        Source {
            name: "etcd pods",
            design: Design::Watch(1),
            claims: |s, _| {
                s.path == "/api/v1/namespaces/kube-system/pods"
                    && has(&s.query, ETCD)
                    && (watch(s) || s.query.contains("limit="))
            },
        },
        Source {
            // one follow stream per etcd pod; while the API does not answer they reconnect one at
            // a time on the watchers' backoff: one stream's worth of attempts
            name: "etcd logs (follow streams)",
            design: Design::Watch(1),
            claims: |s, _| {
                s.path.ends_with("/log")
                    && has(&s.query, "container=etcd")
                    && has(&s.query, "follow=true")
            },
        },
        Source {
            name: "etcd snapshot records (two by name)",
            design: Design::Watch(2),
            claims: |s, _| {
                s.path == "/api/v1/namespaces/kube-system/configmaps"
                    && s.query.contains("-etcd-snapshots")
            },
        },
        Source {
            name: "leases",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/apis/coordination.k8s.io/v1/leases",
        },
        Source {
            name: "events",
            design: Design::Watch(1),
            claims: |s, _| {
                s.path == "/apis/events.k8s.io/v1/events"
                    || (s.path == "/api/v1/events"
                        && !has(&s.query, "fieldSelector=type%3DWarning"))
            },
        },
        Source {
            name: "top pods",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/pods",
        },
        Source {
            name: "top replicasets",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/apis/apps/v1/replicasets",
        },
        Source {
            name: "crash logs: previous logs",
            design: Design::Poll(crash_logs::EVERY),
            claims: |s, _| s.path.ends_with("/log") && has(&s.query, "previous=true"),
        },
        Source {
            name: "kube-root-ca.crt",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/configmaps" && s.query.contains("kube-root-ca.crt"),
        },
        Source {
            name: "metrics.k8s.io",
            design: Design::Poll(Duration::from_secs(10)),
            claims: |s, _| s.path.starts_with("/apis/metrics.k8s.io/"),
        },
        Source {
            name: "apiservices",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/apis/apiregistration.k8s.io/v1/apiservices",
        },
        Source {
            name: "namespace content: Terminating",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/namespaces" && has(&s.query, TERMINATING),
        },
        Source {
            name: "namespace content: scan",
            design: Design::Poll(namespaces::CONTENT_EVERY),
            claims: |s, terminating| {
                let discovery = s.path == "/api"
                    || s.path == "/api/v1"
                    || s.path == "/apis"
                    || (s.path.starts_with("/apis/") && s.path.split('/').count() <= 4);
                discovery
                    || terminating
                        .iter()
                        .any(|ns| s.path.contains(&format!("/namespaces/{ns}/")))
            },
        },
        Source {
            name: "validating webhooks",
            design: Design::Watch(1),
            claims: |s, _| s.path.ends_with("/validatingwebhookconfigurations"),
        },
        Source {
            name: "mutating webhooks",
            design: Design::Watch(1),
            claims: |s, _| s.path.ends_with("/mutatingwebhookconfigurations"),
        },
        Source {
            name: "services",
            design: Design::Watch(1),
            claims: |s, _| s.path == "/api/v1/services",
        },
        Source {
            name: "webhook backends",
            design: Design::Watch(1),
            claims: |s, _| {
                s.path == "/apis/discovery.k8s.io/v1/endpointslices"
                    || s.path == "/api/v1/endpoints"
            },
        },
        Source {
            name: "webhook events",
            design: Design::Watch(1),
            claims: |s, _| {
                s.path == "/api/v1/events" && has(&s.query, "fieldSelector=type%3DWarning")
            },
        },
    ]
}

/// Requests per source in `sent`, checked against each source's designed bound for `t` seconds;
/// returns (total measured, total bound) and the table printed for the record.
fn check_bounds(sent: &[Sent], terminating: &[String], t: f64) -> (u64, u64, String) {
    let table = sources();
    let mut counts = vec![0u64; table.len()];
    for s in sent {
        let owners: Vec<usize> = (0..table.len())
            .filter(|i| (table[*i].claims)(s, terminating))
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "request {} {}?{} claimed by {:?}: every request needs exactly one source",
            s.method,
            s.path,
            s.query,
            owners.iter().map(|i| table[*i].name).collect::<Vec<_>>()
        );
        counts[owners[0]] += 1;
    }
    let mut text = String::new();
    let (mut total, mut bound) = (0, 0);
    let mut over = Vec::new();
    for (src, n) in table.iter().zip(&counts) {
        let b = src.design.bound(t);
        text.push_str(&format!(
            "  {:36} {:>3} of at most {:>3}  ({:?})\n",
            src.name, n, b, src.design
        ));
        if *n > b {
            over.push(format!("{} sent {n} > {b}", src.name));
        }
        total += n;
        bound += b;
    }
    assert!(
        over.is_empty(),
        "over the designed bound in a {t} s outage: {over:?}\n{text}"
    );
    (total, bound, text)
}

#[test]
fn the_designed_bounds_count_what_the_design_says() {
    // 60 s: each watch stream tries at 0, 0.64, 1.92, 4.48, 9.6, 19.84, 40.32 s (the earliest its
    // jittered delays allow), the probe at 0, 1, 2.9, 6.51, 13.37, 26.4, 51.16 s
    assert_eq!(Design::Watch(1).bound(60.0), 7);
    assert_eq!(Design::Watch(2).bound(6.0), 8);
    assert_eq!(Design::Probe.bound(60.0), 7);
    assert_eq!(Design::Probe.bound(6.0), 3);
    assert_eq!(Design::Poll(Duration::from_secs(5)).bound(60.0), 13);
    assert_eq!(Design::Poll(Duration::from_secs(60)).bound(60.0), 2);
    // the 20 tasks: 17 watch streams among them, and the etcd log followers (one stream's worth)
    let streams: u64 = sources()
        .iter()
        .map(|s| match s.design {
            Design::Watch(n) => n,
            _ => 0,
        })
        .sum();
    assert_eq!(streams, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_stale_data_bounds_requests_and_resumes_without_relist() {
    // every story at once: crash-looping system pods, Terminating namespaces, etcd pods, metrics —
    // every poller has something to do
    let h = sim("incident").await;
    let admin = support::client(&h).await;
    let (mut app, sent) = Harness::start_recorded(&h, "admin").await;
    assert_eq!(
        app.sources(),
        20,
        "start_all's tasks; the table in sources() must follow"
    );
    app.until("first sync", Duration::from_secs(20), |m| {
        m.api.state.is_ok() && m.namespaces.state.is_ok() && m.nodes.state.is_ok()
    })
    .await;
    // let the pollers run their first rounds, so the outage finds them mid-schedule
    app.pump(Duration::from_secs(2)).await;
    let namespaces = app.model.namespaces.store.len();
    let nodes = app.model.nodes.store.len();
    let terminating: Vec<String> = app
        .model
        .namespaces
        .store
        .iter()
        .filter(|n| n.phase == "Terminating")
        .map(|n| n.name.clone())
        .collect();
    assert!(namespaces > 0 && nodes > 0 && !terminating.is_empty());
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;

    let secs = outage_secs();
    let began = Instant::now();
    control(&admin, "fault", json!({"outage_seconds": secs})).await;
    app.until(
        "every Kubernetes source stale and the API unreachable",
        Duration::from_secs(20),
        |m| {
            stale(&m.namespaces.state)
                && stale(&m.nodes.state)
                && stale(&m.etcd.logs_state)
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
    while began.elapsed() < outage {
        app.pump(Duration::from_millis(100)).await;
        assert!(
            stale(&app.model.namespaces.state),
            "the pane must stay stale during the outage"
        );
    }
    let ended = Instant::now();
    // what the sources sent during the outage, against what their design allows
    let during: Vec<Sent> = sent
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.at >= began && s.at <= began + outage)
        .cloned()
        .collect();
    let (total, bound, table) = check_bounds(&during, &terminating, secs);
    eprintln!(
        "outage {secs} s: {total} requests from {} tasks (bound {bound}):\n{table}",
        app.sources()
    );
    app.until(
        "every watch and the probe back within the backoff cap",
        Duration::from_secs(35),
        |m| {
            m.api.state.is_ok()
                && m.namespaces.state.is_ok()
                && m.nodes.state.is_ok()
                // the etcd log streams are open again
                && m.etcd.logs_state.is_ok()
                && m.etcd.log_errors.is_empty()
        },
    )
    .await;
    let resumed = ended.elapsed();
    eprintln!("resumed {resumed:?} after the outage ended");
    assert!(resumed <= Duration::from_secs(30), "{resumed:?}");
    assert_eq!(app.model.namespaces.store.len(), namespaces);
    // the scan of Terminating namespaces kept its last content through the outage
    assert!(app.model.namespaces.content.len() >= terminating.len());
    // resumed from the kept resourceVersion: the watches re-watched, nobody re-listed
    let log = request_log(&admin).await;
    for path in ["/api/v1/namespaces", "/api/v1/nodes"] {
        let lists: Vec<&Value> = log
            .iter()
            .filter(|e| e["path"] == path && e["method"] == "GET")
            .filter(|e| !e["query"].as_str().unwrap_or("").contains("watch=true"))
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
