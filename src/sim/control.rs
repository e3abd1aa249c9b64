//! The control channel under `/_sim/` (admin token required) and the fault state.
//!
//! | request | effect |
//! | --- | --- |
//! | `POST /_sim/fault` `{"latency_ms":200}` | add latency to every API request |
//! | `POST /_sim/fault` `{"error_rate":1.0,"error_status":503,"retry_after_seconds":2,"path_prefix":"/api/v1/pods"}` | answer that share of requests with 500/503/429 (+ `Retry-After`) |
//! | `POST /_sim/fault` `{"drop_watches":true}` | close every open watch stream now |
//! | `POST /_sim/fault` `{"hang_watches":true}` | open and new watch streams send nothing more and never close (only the client ends them) |
//! | `POST /_sim/fault` `{"gone_watches":N}` | the next N watch requests get `410 Gone` (`Expired`) |
//! | `POST /_sim/fault` `{"outage_seconds":5}` | close the listener for 5 s (connecting is refused, as when nothing listens; requests on open connections fail), then listen on the same port again |
//! | `POST /_sim/fault` `{"bookmark_interval_ms":100}` | how often watches send BOOKMARK events |
//! | `POST /_sim/reset-faults` | clear all faults |
//! | `GET /_sim/faults` | the active faults, and `outage_refused`: requests on open connections refused by outages (refused connections never reach the simulator) |
//! | `POST /_sim/apply` (object, `List`, or YAML documents) | store objects directly, bypassing admission |
//! | `POST /_sim/delete` `{"apiVersion","kind","namespace","name"}` | remove an object directly (finalizers ignored) |
//! | `POST /_sim/compact` | forget watch history: older resourceVersions get 410 |
//! | `POST /_sim/trigger` `{"name":"renew-leases",...}` | run a scenario behaviour once (see `behaviours.rs`) |
//! | `POST /_sim/resync` | run the Deployment/ReplicaSet controllers over everything now (also every 10 s) |
//! | `POST /_sim/bookmark` | every open watch allowing bookmarks sends one now |
//! | `POST /_sim/log` `{"namespace","pod","container","line"}` | append a log line (followers receive it) |
//! | `GET /_sim/requests` | the request log, JSON lines; `DELETE` clears it |
//! | `GET /_sim/info` | scenario name, resourceVersion, object counts |
//! | `POST /_sim/etcd` `{"member":"<node>","state":"island\|rejoin\|stopped\|healthy","nospace":true}` | change an etcd member now (see `etcd/mod.rs`); `GET` describes them |
//!
//! The request log (in memory for `GET /_sim/requests`, and appended to `--request-log FILE`) has
//! one JSON line per request: `ts`, `ts_ms` (milliseconds since the epoch), `method`, `path`, `query`, `status`, `bytes`, `stream`,
//! `duration_ms`, `user`. A stream (watch, `log?follow`) is logged when it starts (`bytes` 0) and
//! again when it ends, with `"stream_end": true` and its total bytes and duration.

use std::time::{Duration, Instant};

use http::{Method, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{ApiError, Body, bytes_response, json_response};
use super::server::{Req, Signal, Sim};

/// Fault settings as posted to `/_sim/fault` (every field optional).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub latency_ms: Option<u64>,
    pub error_rate: Option<f64>,
    pub error_status: Option<u16>,
    pub retry_after_seconds: Option<u64>,
    pub path_prefix: Option<String>,
    pub hang_watches: Option<bool>,
    pub drop_watches: Option<bool>,
    pub gone_watches: Option<u32>,
    pub outage_seconds: Option<f64>,
    pub bookmark_interval_ms: Option<u64>,
}

/// Active faults.
#[derive(Debug, Clone)]
pub struct Faults {
    pub latency_ms: u64,
    pub error_rate: f64,
    pub error_status: u16,
    pub retry_after: Option<u64>,
    pub path_prefix: Option<String>,
    pub hang_watches: bool,
    pub gone_watches: u32,
    pub outage_until: Option<Instant>,
    pub bookmark_interval: Duration,
    /// Requests on already open connections refused because of an outage (they never reach the
    /// request log); connections refused by the closed port are not seen at all.
    pub outage_refused: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 503,
            retry_after: None,
            path_prefix: None,
            hang_watches: false,
            gone_watches: 0,
            outage_until: None,
            bookmark_interval: Duration::from_secs(10),
            outage_refused: 0,
        }
    }
}

impl Faults {
    pub fn in_outage(&self) -> bool {
        self.outage_until.is_some_and(|t| Instant::now() < t)
    }

    /// `in_outage`, counting the refusal it causes.
    pub fn refuse_in_outage(&mut self) -> bool {
        let refused = self.in_outage();
        if refused {
            self.outage_refused += 1;
        }
        refused
    }

    /// Latency to add and an error to answer instead, for one API request.
    pub fn on_request(&self, path: &str) -> (u64, Option<ApiError>) {
        if let Some(p) = &self.path_prefix
            && !path.starts_with(p.as_str())
        {
            return (0, None);
        }
        let err = if self.error_rate > 0.0 && fastrand::f64() < self.error_rate {
            let mut e = match self.error_status {
                429 => {
                    let mut e = ApiError::new(
                        429,
                        "TooManyRequests",
                        "Too many requests, please try again later.",
                    );
                    e.details = json!({"retryAfterSeconds": self.retry_after.unwrap_or(1)});
                    e
                }
                500 => ApiError::internal("injected fault"),
                code => {
                    let mut e = ApiError::unavailable();
                    e.code = code;
                    e
                }
            };
            e.retry_after = match self.error_status {
                429 => Some(self.retry_after.unwrap_or(1)),
                _ => self.retry_after,
            };
            Some(e)
        } else {
            None
        };
        (self.latency_ms, err)
    }

    /// Takes one forced 410 for a new watch, if any are pending.
    pub fn take_gone(&mut self) -> bool {
        if self.gone_watches > 0 {
            self.gone_watches -= 1;
            true
        } else {
            false
        }
    }

    fn apply(&mut self, s: &FaultSpec) {
        if let Some(v) = s.latency_ms {
            self.latency_ms = v;
        }
        if let Some(v) = s.error_rate {
            self.error_rate = v.clamp(0.0, 1.0);
        }
        if let Some(v) = s.error_status {
            self.error_status = v;
        }
        if s.retry_after_seconds.is_some() {
            self.retry_after = s.retry_after_seconds;
        }
        if s.path_prefix.is_some() {
            self.path_prefix.clone_from(&s.path_prefix);
        }
        if let Some(v) = s.hang_watches {
            self.hang_watches = v;
        }
        if let Some(v) = s.gone_watches {
            self.gone_watches = v;
        }
        if let Some(v) = s.outage_seconds {
            let d = Duration::try_from_secs_f64(v.clamp(0.0, 86_400.0)).unwrap_or_default();
            self.outage_until = Some(Instant::now() + d);
        }
        if let Some(v) = s.bookmark_interval_ms {
            self.bookmark_interval = Duration::from_millis(v.max(10));
        }
    }

    fn describe(&self) -> Value {
        json!({
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "error_status": self.error_status,
            "retry_after_seconds": self.retry_after,
            "path_prefix": self.path_prefix,
            "hang_watches": self.hang_watches,
            "gone_watches": self.gone_watches,
            "outage_remaining_ms": self.outage_until.map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64),
            "bookmark_interval_ms": self.bookmark_interval.as_millis() as u64,
            "outage_refused": self.outage_refused,
        })
    }
}

fn parse_body(req: &Req) -> Result<Vec<Value>, ApiError> {
    let text = std::str::from_utf8(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![v]);
    }
    super::yaml::documents(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Answers one control request.
pub async fn handle(sim: &Sim, req: &Req) -> Response<Body> {
    if req.path.trim_end_matches('/') == "/_sim/etcd" {
        return etcd(sim, req).await.unwrap_or_else(|e| e.response());
    }
    match inner(sim, req) {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

async fn etcd(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let etcd = sim
        .etcd
        .get()
        .ok_or_else(|| ApiError::bad_request("this scenario has no etcd members"))?;
    match req.method {
        Method::GET => Ok(json_response(200, &etcd.describe())),
        Method::POST => {
            let change: super::etcd::Change = serde_json::from_slice(&req.body)
                .map_err(|e| ApiError::bad_request(format!("invalid etcd change: {e}")))?;
            let out = etcd.apply(&change).await.map_err(ApiError::bad_request)?;
            Ok(json_response(200, &out))
        }
        _ => Err(ApiError::no_route()),
    }
}

fn inner(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let what = req.path.trim_start_matches("/_sim/").trim_end_matches('/');
    match (&req.method, what) {
        (&Method::POST, "fault") => fault(sim, req),
        (&Method::POST, "reset-faults") => {
            let desc = {
                let mut f = sim.faults();
                *f = Faults::default();
                f.describe()
            };
            Ok(json_response(200, &desc))
        }
        (&Method::GET, "faults") => Ok(json_response(200, &sim.faults().describe())),
        (&Method::POST, "apply") => apply(sim, req),
        (&Method::POST, "delete") => delete(sim, req),
        (&Method::POST, "compact") => {
            let rv = {
                let mut st = sim.state();
                st.store.compact();
                st.store.rv()
            };
            Ok(json_response(200, &json!({"compactedTo": rv})))
        }
        (&Method::POST, "trigger") => trigger(sim, req),
        (&Method::POST, "component") => component(sim, req),
        (&Method::POST, "resync") => {
            let mut st = sim.state();
            super::controllers::resync_all(&mut st);
            super::lifecycle::reconcile(&mut st);
            Ok(json_response(
                200,
                &json!({"resourceVersion": st.store.rv().to_string()}),
            ))
        }
        (&Method::POST, "bookmark") => {
            let n = sim.signals.send(Signal::Bookmark).unwrap_or(0);
            Ok(json_response(200, &json!({"receivers": n})))
        }
        (&Method::POST, "log") => append_log(sim, req),
        (&Method::GET, "requests") => {
            let mut out = String::new();
            for v in sim.requests() {
                out.push_str(&v.to_string());
                out.push('\n');
            }
            Ok(bytes_response(200, "application/x-ndjson", out))
        }
        (&Method::DELETE, "requests") => {
            sim.reqlog.lock().map(|mut l| l.ring.clear()).ok();
            Ok(json_response(200, &json!({"ok": true})))
        }
        (&Method::GET, "info") => Ok(info(sim)),
        _ => Err(ApiError::no_route()),
    }
}

/// `POST /_sim/fault`: set faults (errors, latency, dropped watches, an outage); what is set now.
fn fault(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let spec: FaultSpec = if req.body.is_empty() {
        FaultSpec::default()
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid fault: {e}")))?
    };
    let desc = {
        let mut f = sim.faults();
        f.apply(&spec);
        f.describe()
    };
    if spec.drop_watches == Some(true) || spec.outage_seconds.is_some() {
        let _ = sim.signals.send(Signal::DropWatches);
    }
    if spec.outage_seconds.is_some() {
        sim.outage.notify_one();
    }
    Ok(json_response(200, &desc))
}

/// `POST /_sim/trigger`: run a named behaviour, then let the controllers reconcile.
fn trigger(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let v: Value =
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut st = sim.state();
    let out = super::behaviours::run(&mut st, &name, &v)?;
    super::lifecycle::reconcile(&mut st);
    Ok(json_response(200, &out))
}

/// `POST /_sim/component`: stop or start a control-plane process (`ago`: since when).
fn component(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let v: Value =
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = v.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(run) = v.get("running").and_then(Value::as_bool) else {
        return Err(ApiError::bad_request(
            "\"running\": true or false is required",
        ));
    };
    let ago = v
        .get("ago")
        .and_then(Value::as_str)
        .and_then(super::scenario::parse_offset)
        .unwrap_or(0);
    let mut st = sim.state();
    let out = super::components::set(&mut st, name, run, ago).map_err(ApiError::bad_request)?;
    super::lifecycle::reconcile(&mut st);
    Ok(json_response(200, &out))
}

/// `GET /_sim/info`: the scenario, the resourceVersion and the object count by resource.
fn info(sim: &Sim) -> Response<Body> {
    let st = sim.state();
    let mut counts = serde_json::Map::new();
    for d in &st.reg.defs {
        let n = st.store.count(&d.key());
        if n > 0 {
            counts.insert(d.key(), json!(n));
        }
    }
    json_response(
        200,
        &json!({"scenario": sim.scenario, "resourceVersion": st.store.rv().to_string(), "counts": counts}),
    )
}

/// `POST /_sim/apply`: store objects directly, bypassing admission.
fn apply(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let docs = parse_body(req)?;
    let mut objs = Vec::new();
    for d in docs {
        match d.get("items").and_then(Value::as_array) {
            Some(items) => objs.extend(items.iter().cloned()),
            None => objs.push(d),
        }
    }
    let mut st = sim.state();
    let mut stored = Vec::new();
    for o in objs {
        stored.push(super::load::apply_direct(&mut st, o)?);
    }
    super::lifecycle::reconcile(&mut st);
    Ok(json_response(
        200,
        &json!({"kind": "List", "apiVersion": "v1", "items": stored}),
    ))
}

/// `POST /_sim/delete`: remove an object directly (finalizers ignored).
fn delete(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let v: Value =
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut st = sim.state();
    let def = st
        .reg
        .by_kind(&s("apiVersion"), &s("kind"))
        .cloned()
        .ok_or_else(|| ApiError::bad_request("unknown apiVersion/kind"))?;
    let ns = if def.namespaced {
        s("namespace")
    } else {
        String::new()
    };
    let gone = st.store.remove(&def.key(), &ns, &s("name"));
    super::lifecycle::reconcile(&mut st);
    Ok(json_response(200, &json!({"deleted": gone.is_some()})))
}

/// `POST /_sim/log`: a line in a container's log (and to its followers).
fn append_log(sim: &Sim, req: &Req) -> Result<Response<Body>, ApiError> {
    let v: Value =
        serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (ns, pod, line) = (s("namespace"), s("pod"), s("line"));
    let mut container = s("container");
    let at = chrono::Utc::now();
    {
        let mut st = sim.state();
        if container.is_empty() {
            container = st
                .store
                .get("/pods", &ns, &pod)
                .and_then(|p| p.pointer("/spec/containers/0/name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
        }
        st.logs.append(&ns, &pod, &container, &line, at);
    }
    let _ = sim.signals.send(Signal::Log {
        ns,
        pod,
        container,
        line,
        at,
    });
    Ok(json_response(200, &json!({"ok": true})))
}
