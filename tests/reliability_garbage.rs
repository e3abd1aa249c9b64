//! Malformed API answers (issue 12), from a tiny raw HTTP server on loopback: invalid JSON,
//! truncated watch lines, non-UTF-8 bytes, unknown enum values, huge objects and very long names.
//! Each source ends in a clear pane state or shows the data; nothing panics, rendering included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "reliability/harness.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use harness::{Harness, screen};
use ktriage::model::{FailureKind, SourceState};
use ktriage::msg::Msg;
use ktriage::update::update;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LONG: usize = 253; // the longest DNS-subdomain name Kubernetes allows …
const HUGE: usize = 3 * 1024 * 1024; // … and a 3 MiB annotation (etcd's default request limit is 1.5 MiB)

fn node(name: &str) -> serde_json::Value {
    json!({"metadata": {"name": name, "resourceVersion": "5",
                         "annotations": {"huge": "h".repeat(HUGE)}},
           "status": {"conditions": [{"type": "Ready", "status": "Maybe", "reason": "Schrödinger"},
                                     {"type": "QuantumPressure", "status": "True"}]}})
}

/// The canned answer for one request: status line + headers + body, then the connection closes.
fn answer(path: &str, query: &str, watches: &AtomicUsize) -> Vec<u8> {
    let watch = query.contains("watch=true");
    let (status, body): (&str, Vec<u8>) = match path {
        "/version" => (
            "200 OK",
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
                .to_string()
                .into_bytes(),
        ),
        // invalid JSON for the namespaces list
        "/api/v1/namespaces" if !watch => (
            "200 OK",
            b"{\"kind\":\"NamespaceList\",\"items\":[{".to_vec(),
        ),
        "/api/v1/nodes" if !watch => {
            let long = "n".repeat(LONG);
            let list = json!({"kind": "NodeList", "apiVersion": "v1",
                              "metadata": {"resourceVersion": "5"},
                              "items": [node(&long), node("plain")]});
            ("200 OK", list.to_string().into_bytes())
        }
        // a watch: one whole event with an unknown phase, then a torn line
        "/api/v1/nodes" => {
            watches.fetch_add(1, Ordering::SeqCst);
            let mut b = json!({"type": "ADDED", "object": node("late")})
                .to_string()
                .into_bytes();
            b.extend_from_slice(b"\n{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"na");
            ("200 OK", b)
        }
        // kube-system pods: bytes that are not UTF-8
        "/api/v1/namespaces/kube-system/pods" if !watch => {
            let mut b =
                b"{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"etcd-\xff\xfe\"}}]}"
                    .to_vec();
            b.push(0xc3);
            ("200 OK", b)
        }
        _ => (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                   "reason": "NotFound", "message": "not here"})
            .to_string()
            .into_bytes(),
        ),
    };
    let mut out =
        format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n")
            .into_bytes();
    out.extend_from_slice(&body);
    out
}

async fn garbage_server() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let watches = Arc::new(AtomicUsize::new(0));
    let w = watches.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let w = w.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|x| x == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let _ = s.write_all(&answer(path, query, &w)).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, watches, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_become_pane_states_and_nothing_panics() {
    let (url, watches, server) = garbage_server().await;
    let cfg = kube::Config::new(url.parse().unwrap());
    let mut app = Harness::start_with(cfg, &url, "nobody");
    let unreadable = |s: &SourceState| {
        matches!(s, SourceState::Failed { failure, .. }
            if failure.kind == FailureKind::Error && failure.message.contains("unreadable response"))
    };
    app.until(
        "API ok, namespaces and etcd pods unreadable, nodes listed and watched",
        Duration::from_secs(20),
        |m| {
            m.api.state.is_ok()
                && unreadable(&m.namespaces.state)
                && unreadable(&m.etcd.pods_state)
                && m.nodes.store.len() >= 2
                && watches.load(Ordering::SeqCst) >= 2
        },
    )
    .await;
    // the very long name and the unknown condition values are kept as they came
    let long = "n".repeat(LONG);
    assert!(app.model.nodes.store.get(&long).is_some());
    assert!(
        app.model.nodes.store.get("late").is_some(),
        "the whole event before the torn line"
    );
    // the torn watch line is an error the watcher retries from, not a crash
    assert!(watches.load(Ordering::SeqCst) >= 2);
    // every pane renders, at the minimum size and below it
    let mut shown = app.model.clone();
    for (w, h) in [(160u16, 48u16), (80, 24), (40, 10), (1, 1)] {
        update(&mut shown, Msg::Resize(w, h), Utc::now());
        for k in ['1', '2', '3', '4', '5', '6', '7', '?'] {
            update(
                &mut shown,
                Msg::Key(KeyEvent::new(KeyCode::Char(k), KeyModifiers::NONE)),
                Utc::now(),
            );
            let _ = screen(&shown, w, h);
            update(
                &mut shown,
                Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
                Utc::now(),
            );
        }
    }
    update(&mut shown, Msg::Resize(120, 40), Utc::now());
    update(
        &mut shown,
        Msg::Key(KeyEvent::new(KeyCode::Char('6'), KeyModifiers::NONE)),
        Utc::now(),
    );
    let text = screen(&shown, 120, 40);
    assert!(text.contains("unreadable response"), "{text}");
    let small = screen(&shown, 79, 23);
    assert!(small.contains("needs at least 80×24"), "{small}");
    server.abort();
}
