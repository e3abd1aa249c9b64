//! Shared helpers for the simulator tests: start a scenario, build kube-rs clients from the
//! generated kubeconfig, talk to the control channel, and send raw requests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use http_body_util::BodyExt as _;
use ktriage::sim::{SimHandle, SimOptions, start};
use serde_json::Value;

pub mod kubectl;

/// Starts `scenario` on a free loopback port over HTTPS.
pub async fn sim(scenario: &str) -> SimHandle {
    start(SimOptions {
        scenario: scenario.to_string(),
        ..SimOptions::default()
    })
    .await
    .expect("sim starts")
}

/// A kube-rs client built from the simulator's kubeconfig for `user` (kube's retries off, so
/// faults are seen as they are).
pub async fn client_as(h: &SimHandle, user: &str) -> kube::Client {
    let mut cfg = h.kube_config(user).await.expect("client configuration");
    cfg.default_retry = false;
    cfg.read_timeout = Some(Duration::from_secs(30));
    kube::Client::try_from(cfg).expect("client")
}

pub async fn client(h: &SimHandle) -> kube::Client {
    client_as(h, "admin").await
}

/// A raw request; answers (status, headers, body).
pub async fn raw(
    c: &kube::Client,
    method: &str,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, ctype)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = c.send(req).await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// POST to the control channel and parse the JSON answer.
pub async fn control(c: &kube::Client, what: &str, body: Value) -> Value {
    let (status, _, text) = raw(
        c,
        "POST",
        &format!("/_sim/{what}"),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "control {what}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Runs `f` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The Status of a kube error (panics on other errors).
pub fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
