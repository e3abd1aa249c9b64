//! The scale generator at the size (5k nodes, 50k pods, 10k events, 2k namespaces): start
//! time and memory. Ignored by default (about 0.6 GiB and a few seconds); run with
//! `cargo test --test sim_scale -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::{client, raw};

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "large: about 0.6 GiB and several seconds; run with --ignored"]
async fn sim_scale_5k_nodes_50k_pods_starts_fast_and_small() {
    let t = Instant::now();
    let h = support::sim("scale:5000:50000:10000:2000").await;
    let started = t.elapsed();
    let rss_start = rss_kib("VmRSS:");
    eprintln!(
        "scale:5000:50000:10000:2000 started in {started:?}, RSS {} MiB",
        rss_start / 1024
    );
    assert!(started < Duration::from_secs(15), "start took {started:?}");
    let c = client(&h).await;
    // page through all pods as a client would
    let mut total = 0usize;
    let mut token = String::new();
    loop {
        let path = if token.is_empty() {
            "/api/v1/pods?limit=500".to_string()
        } else {
            format!("/api/v1/pods?limit=500&continue={token}")
        };
        let (code, _, body) = raw(&c, "GET", &path, "", vec![]).await;
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        total += v["items"].as_array().unwrap().len();
        match v["metadata"]["continue"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_string(),
            _ => break,
        }
    }
    assert_eq!(total, 50_000);
    // one unpaged list of everything
    let (code, _, body) = raw(&c, "GET", "/api/v1/pods", "", vec![]).await;
    assert_eq!(code, 200);
    assert!(body.len() > 30_000_000);
    drop(body);
    let peak = rss_kib("VmHWM:");
    eprintln!("peak RSS after listing: {} MiB", peak / 1024);
    assert!(peak < 1024 * 1024, "peak RSS {peak} KiB");
    h.shutdown().await;
}
