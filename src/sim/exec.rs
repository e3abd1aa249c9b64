//! `pods/exec` over WebSocket, the channel protocol `kubectl exec` (1.29+, WebSocket first) and
//! kube-rs speak: the client asks `GET /api/v1/namespaces/NS/pods/NAME/exec?command=…&stdout=true`
//! with `Upgrade: websocket` and `Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io, …`;
//! the server answers 101 with the protocol it chose, then sends binary messages whose first byte is
//! the channel (1 stdout, 2 stderr, 3 the final `Status`), and closes. v5 adds the close signal
//! (channel 255), which a client without stdin never sends.
//!
//! Only the etcd pods have a program to run (`etcdctl`, answered from the simulated members:
//! [`super::etcd::etcdctl`]); any other command exits 126 like a container without it.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::api::{ApiError, Body, bytes_response};
use super::server::Sim;

/// The protocols served, in preference order.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// `Some((namespace, pod))` for a WebSocket upgrade of `…/pods/NAME/exec`.
pub fn target(req: &Request<Incoming>) -> Option<(String, String)> {
    let upgrade = req
        .headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let parts: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "exec"] if upgrade => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// The query's `command` words and `container`.
fn command(query: &str) -> (Vec<String>, Option<String>) {
    let q = query.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (
            super::server::percent_decode(k),
            super::server::percent_decode(v),
        )
    });
    let mut argv = Vec::new();
    let mut container = None;
    for (k, v) in q {
        match k.as_str() {
            "command" => argv.push(v),
            "container" => container = Some(v),
            _ => {}
        }
    }
    (argv, container)
}

/// The final Status a kubelet sends on channel 3.
fn status(run: &Run, argv: &[String]) -> String {
    if run.code == 0 {
        return json!({"metadata": {}, "status": "Success"}).to_string();
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {}",
                           argv.join(" "), run.code),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": run.code.to_string()}]},
    })
    .to_string()
}

/// Answer the upgrade: 101 and a task that runs the command on the upgraded connection, or the
/// error a real API server gives (403, 404, 400 for a container that does not run).
pub fn upgrade(sim: &Arc<Sim>, mut req: Request<Incoming>, ns: &str, pod: &str) -> Response<Body> {
    let (argv, container) = command(req.uri().query().unwrap_or(""));
    let offered: Vec<String> = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let Some(protocol) = PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p)) else {
        return bytes_response(
            400,
            "text/plain",
            "the simulator serves exec over v5.channel.k8s.io and v4.channel.k8s.io only\n",
        );
    };
    let Some(key) = req
        .headers()
        .get(http::header::SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return bytes_response(400, "text/plain", "missing Sec-WebSocket-Key\n");
    };
    if argv.is_empty() {
        return ApiError::bad_request("you must specify at least 1 command").response();
    }
    let run = match prepare(sim, ns, pod, container.as_deref()) {
        Ok(pod_state) => pod_state.run(&argv),
        Err(e) => return e.response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let send = |channel: u8, text: &str| {
            let mut b = vec![channel];
            b.extend_from_slice(text.as_bytes());
            Message::binary(b)
        };
        let mut msgs = Vec::new();
        if !run.stdout.is_empty() {
            msgs.push(send(1, &run.stdout));
        }
        if !run.stderr.is_empty() {
            msgs.push(send(2, &run.stderr));
        }
        msgs.push(send(3, &status(&run, &argv)));
        for m in msgs {
            if ws.send(m).await.is_err() {
                return;
            }
        }
        // a normal closure: kubectl reads it as the end of every stream (1005 would be an error)
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        // drain until the client closes (bounded)
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    });
    let mut resp = Response::new(super::api::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&key) {
        h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_static(protocol),
    );
    resp
}

/// What runs in a container.
pub enum Container {
    /// The etcd container of the member on `node`.
    Etcd {
        node: String,
    },
    Other,
}

/// A container without the program: exit 126, as runc says it.
fn not_found(argv: &[String]) -> Run {
    Run {
        stderr: format!(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH: unknown\n",
            argv.first().map(String::as_str).unwrap_or("")
        ),
        code: 126,
        ..Run::default()
    }
}

/// The pod and container to run in, or the API server's error.
fn prepare(
    sim: &Arc<Sim>,
    ns: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<Bound, ApiError> {
    let obj = sim
        .state()
        .store
        .get("/pods", ns, pod)
        .map(|p| (**p).clone())
        .ok_or_else(|| ApiError::not_found("pods", "", pod))?;
    let containers: Vec<String> = obj
        .pointer("/spec/containers")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let name = container
        .map(str::to_string)
        .or_else(|| containers.first().cloned())
        .unwrap_or_default();
    if !containers.contains(&name) {
        return Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod}"
        )));
    }
    let running = obj
        .pointer("/status/containerStatuses")
        .and_then(|s| s.as_array())
        .and_then(|a| a.iter().find(|c| c["name"] == name.as_str()))
        .is_some_and(|c| c["started"] != false && c["ready"] != false);
    if !running {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{name}\")"
        )));
    }
    let node = obj
        .pointer("/spec/nodeName")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    let etcd = sim.etcd.get().cloned();
    let is_member = etcd
        .as_ref()
        .is_some_and(|e| e.cluster().members.iter().any(|m| m.node == node));
    let labelled = obj.pointer("/metadata/labels/component") == Some(&json!("etcd"));
    Ok(Bound {
        container: if is_member && labelled && name == "etcd" {
            Container::Etcd { node }
        } else {
            Container::Other
        },
        etcd,
    })
}

/// A container bound to the simulator's etcd members for one run.
pub struct Bound {
    container: Container,
    etcd: Option<Arc<super::etcd::EtcdSim>>,
}

impl Bound {
    fn run(&self, argv: &[String]) -> Run {
        match (&self.container, &self.etcd) {
            (Container::Etcd { node }, Some(etcd)) => {
                super::etcd::etcdctl::run(&etcd.cluster(), node, argv)
            }
            _ => not_found(argv),
        }
    }
}
