//! Pod logs: scenario-provided lines (current and previous containers), `tailLines`, `previous`,
//! `container`, `timestamps`, and `follow` (new lines come from the control channel).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::api::{ApiError, Body, bytes_response, stream_response};
use super::handlers::Target;
use super::server::{Req, Signal, Sim};

/// Log lines of one container, as declared in a scenario's `logs:` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LogSpec {
    pub namespace: String,
    pub pod: String,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub previous: bool,
    #[serde(default)]
    pub lines: Vec<String>,
}

type Key = (String, String, String, bool);
/// A stored line and, when it was written with one, its own time (else it is stamped "now").
type Line = (Option<Stamp>, String);
type Stamp = chrono::DateTime<chrono::Utc>;

/// Lines kept per container for lines written with [`PodLogs::append_at`] (a chatty etcd member).
const CAP: usize = 5000;

/// Stored log lines.
#[derive(Debug, Default)]
pub struct PodLogs {
    lines: HashMap<Key, Vec<Line>>,
}

impl PodLogs {
    /// A scenario's lines, written when it is loaded (so `sinceTime` and `sinceSeconds` see them once).
    pub fn load(&mut self, specs: Vec<LogSpec>) {
        let now = chrono::Utc::now();
        for s in specs {
            let c = s.container.unwrap_or_default();
            self.lines
                .entry((s.namespace, s.pod, c, s.previous))
                .or_default()
                .extend(s.lines.into_iter().map(|l| (Some(now), l)));
        }
    }

    /// Append a line written now.
    pub fn append(&mut self, ns: &str, pod: &str, container: &str, line: &str, ts: Stamp) {
        self.lines
            .entry((ns.into(), pod.into(), container.into(), false))
            .or_default()
            .push((Some(ts), line.into()));
    }

    /// Append a line written at `ts` (served with that timestamp); keeps the last `CAP` lines.
    pub fn append_at(
        &mut self,
        ns: &str,
        pod: &str,
        container: &str,
        line: String,
        ts: chrono::DateTime<chrono::Utc>,
    ) {
        let v = self
            .lines
            .entry((ns.into(), pod.into(), container.into(), false))
            .or_default();
        v.push((Some(ts), line));
        if v.len() > CAP + CAP / 10 {
            v.drain(..v.len() - CAP);
        }
    }

    fn get(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
        only: bool,
    ) -> Option<Vec<Line>> {
        let k = (
            ns.to_string(),
            pod.to_string(),
            container.to_string(),
            previous,
        );
        if let Some(l) = self.lines.get(&k) {
            return Some(l.clone());
        }
        if only {
            let k = (ns.to_string(), pod.to_string(), String::new(), previous);
            return self.lines.get(&k).cloned();
        }
        None
    }
}

fn default_lines(pod: &str, container: &str) -> Vec<Line> {
    [
        format!(
            "I{} 1 main.go:42] starting {container}",
            chrono::Utc::now().format("%m%d %H:%M:%S%.6f")
        ),
        format!(
            "I{} 1 main.go:57] {pod}/{container}: serving",
            chrono::Utc::now().format("%m%d %H:%M:%S%.6f")
        ),
    ]
    .map(|l| (None, l))
    .to_vec()
}

fn render(lines: &[Line], timestamps: bool) -> String {
    let mut out = String::new();
    let now = chrono::Utc::now();
    for (at, l) in lines {
        if timestamps {
            let ts = at.unwrap_or(now);
            out.push_str(&ts.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            out.push(' ');
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// GET pods/{name}/log.
pub fn serve(sim: &Arc<Sim>, req: &Req, t: &Target) -> Result<Response<Body>, ApiError> {
    let ns = t.ns.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let previous = req.flag("previous");
    let timestamps = req.flag("timestamps");
    let follow = req.flag("follow");
    let tail = req.q("tailLines").and_then(|x| x.parse::<usize>().ok());
    let (container, mut lines, signals) = {
        let st = sim.state();
        let pod = st
            .store
            .get("/pods", &ns, &name)
            .ok_or_else(|| ApiError::not_found("pods", "", &name))?;
        let names: Vec<String> = ["/spec/containers", "/spec/initContainers"]
            .iter()
            .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        let main: Vec<&String> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| names.iter().find(|x| x.as_str() == n))
            .collect();
        let container = match req.q("container").filter(|c| !c.is_empty()) {
            Some(c) => {
                if !names.iter().any(|n| n == c) {
                    return Err(ApiError::bad_request(format!(
                        "container {c} is not valid for pod {name}"
                    )));
                }
                c.to_string()
            }
            None if main.len() == 1 => main[0].clone(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    main.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
        };
        let only = main.len() == 1;
        let lines = match st.logs.get(&ns, &name, &container, previous, only) {
            Some(l) => l,
            None if previous => {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
            None => default_lines(&name, &container),
        };
        (container, lines, sim.signals.subscribe())
    };
    // as the kubelet: `sinceSeconds` wins over `sinceTime` (RFC 3339); a line at or after it is kept
    let since = match req.q("sinceSeconds").and_then(|x| x.parse::<i64>().ok()) {
        Some(s) => Some(chrono::Utc::now() - chrono::Duration::seconds(s)),
        None => match req.q("sinceTime") {
            Some(t) => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|e| ApiError::bad_request(format!("sinceTime {t}: {e}")))?
                    .with_timezone(&chrono::Utc),
            ),
            None => None,
        },
    };
    if let Some(from) = since {
        lines.retain(|(at, _)| at.is_none_or(|t| t >= from));
    }
    if let Some(n) = tail {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let body = render(&lines, timestamps);
    if !follow || previous {
        return Ok(bytes_response(200, "text/plain", body));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(follow_task(
        tx, signals, body, ns, name, container, timestamps,
    ));
    Ok(stream_response(200, "text/plain", rx))
}

async fn follow_task(
    tx: mpsc::Sender<Bytes>,
    mut signals: broadcast::Receiver<Signal>,
    first: String,
    ns: String,
    pod: String,
    container: String,
    timestamps: bool,
) {
    if !first.is_empty() && tx.send(Bytes::from(first)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            s = signals.recv() => match s {
                Ok(Signal::Log { ns: n, pod: p, container: c, line, at })
                    if n == ns && p == pod && c == container
                        && tx.send(Bytes::from(render(&[(Some(at), line.clone())], timestamps))).await.is_err() => return,
                Ok(Signal::DropWatches) | Err(broadcast::error::RecvError::Closed) => return,
                _ => {}
            }
        }
    }
}
