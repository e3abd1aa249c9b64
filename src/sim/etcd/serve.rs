//! The members' listeners and answers. Each member has a client and a peer listener on 127.0.0.1;
//! a stopped member's listeners are closed (connections refused) and reopened on the same ports when
//! it starts again. Every answer is computed from the cluster state at request time, so a control
//! change is visible to the very next request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{Cluster, EtcdSim, Member, MemberState, VERSION};
use crate::sim::SimError;
use crate::sim::api::{Body, bytes_response};

/// How long a member without quorum takes to give up on a linearizable read (etcd 3.4.23: 7 s).
const READ_INDEX_TIMEOUT: Duration = Duration::from_secs(7);
/// A rejoined member's silent client port holds a connection at most this long.
const HOLD: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Listeners {
    /// member index → (client task, peer task)
    tasks: HashMap<usize, (JoinHandle<()>, JoinHandle<()>)>,
    pub(crate) ticker: Option<JoinHandle<()>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    Client,
    Peer,
}

pub async fn bind_pair() -> Result<(TcpListener, TcpListener), SimError> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let bind = |a| async move {
        TcpListener::bind(a)
            .await
            .map_err(|source| SimError::Bind { addr: a, source })
    };
    Ok((bind(any).await?, bind(any).await?))
}

fn listeners(etcd: &EtcdSim) -> std::sync::MutexGuard<'_, Listeners> {
    etcd.listeners
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn spawn(
    etcd: &Arc<EtcdSim>,
    idx: usize,
    client: Option<TcpListener>,
    peer: Option<TcpListener>,
) {
    if etcd.cluster().members[idx].state == MemberState::Stopped {
        return; // dropping the listeners closes the ports
    }
    let (Some(client), Some(peer)) = (client, peer) else {
        return;
    };
    let c = tokio::spawn(accept(etcd.clone(), idx, Port::Client, client));
    let p = tokio::spawn(accept(etcd.clone(), idx, Port::Peer, peer));
    listeners(etcd).tasks.insert(idx, (c, p));
}

/// Close a member's listeners and connections, then reopen them on the same ports unless stopped.
pub async fn restart(etcd: &Arc<EtcdSim>, idx: usize) -> std::io::Result<()> {
    let old = listeners(etcd).tasks.remove(&idx);
    if let Some((c, p)) = old {
        c.abort();
        p.abort();
        let _ = c.await;
        let _ = p.await;
    }
    let (state, client, peer) = {
        let cl = etcd.cluster();
        let m = &cl.members[idx];
        (m.state, m.client, m.peer)
    };
    if state == MemberState::Stopped {
        return Ok(());
    }
    let c = TcpListener::bind(client).await?;
    let p = TcpListener::bind(peer).await?;
    spawn(etcd, idx, Some(c), Some(p));
    Ok(())
}

pub fn stop_all(etcd: &EtcdSim) {
    let mut l = listeners(etcd);
    for (_, (c, p)) in l.tasks.drain() {
        c.abort();
        p.abort();
    }
    if let Some(t) = l.ticker.take() {
        t.abort();
    }
}

async fn accept(etcd: Arc<EtcdSim>, idx: usize, port: Port, listener: TcpListener) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((stream, _)) = r else { continue };
                let _ = stream.set_nodelay(true);
                let silent = port == Port::Client
                    && etcd.cluster().members[idx].state == MemberState::Rejoin;
                if silent {
                    // accepts TCP and never answers: etcd serves clients only after publishing
                    // itself through raft, which a re-bootstrapped member never does
                    conns.spawn(hold(stream));
                    continue;
                }
                let etcd = etcd.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let etcd = etcd.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&etcd, idx, port, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn hold(mut stream: tokio::net::TcpStream) {
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(HOLD, async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

fn dec(v: u64) -> String {
    v.to_string()
}

/// What one member answers as: its cluster, its ID, the members it knows.
pub(crate) struct Identity {
    pub cluster_id: u64,
    pub member_id: u64,
    pub revision: u64,
    pub raft_term: u64,
    pub raft_index: u64,
    pub leader: Option<u64>,
    /// (ID, name, peer URL, client URL)
    pub members: Vec<(u64, String, String, String)>,
}

fn member_name(m: &Member, id: u64) -> String {
    format!("{}-{:08x}", m.node, id >> 32)
}

pub(crate) fn identity(cl: &Cluster, idx: usize) -> Identity {
    let m = &cl.members[idx];
    let entry = |x: &Member, id: u64| (id, member_name(x, id), x.peer_url(), x.client_url());
    match m.state {
        MemberState::Island => {
            let up = m.since.elapsed().as_secs();
            Identity {
                cluster_id: m.own_cluster_id(),
                member_id: m.own_id(),
                revision: 1 + up / 4,
                raft_term: 2,
                raft_index: 4 + up / 2,
                leader: Some(m.own_id()),
                members: vec![entry(m, m.own_id())],
            }
        }
        MemberState::Rejoin => Identity {
            cluster_id: m.own_cluster_id(),
            member_id: m.own_id(),
            revision: 1,
            raft_term: 1,
            raft_index: 3,
            leader: None,
            members: cl
                .members
                .iter()
                .map(|x| entry(x, m.rejoin_id_of(x)))
                .collect(),
        },
        _ => Identity {
            cluster_id: cl.cluster_id,
            member_id: m.id,
            revision: cl.revision(),
            raft_term: cl.term(),
            raft_index: cl.raft_index(),
            leader: cl.leader.map(|i| cl.members[i].id),
            members: cl.members.iter().map(|x| entry(x, x.id)).collect(),
        },
    }
}

fn header(id: &Identity, with_revision: bool) -> Value {
    let mut h = json!({"cluster_id": dec(id.cluster_id), "member_id": dec(id.member_id)});
    if with_revision {
        h["revision"] = json!(dec(id.revision));
    }
    h["raft_term"] = json!(dec(id.raft_term));
    h
}

fn gateway(code: u16, v: &Value) -> Response<Body> {
    let mut body = serde_json::to_vec(v).unwrap_or_default();
    body.push(b'\n');
    bytes_response(code, "application/json", body)
}

fn gateway_error(message: &str, code: u32) -> Response<Body> {
    gateway(
        503,
        &json!({"error": message, "message": message, "code": code}),
    )
}

async fn answer(
    etcd: &Arc<EtcdSim>,
    idx: usize,
    port: Port,
    req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body: Bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match port {
        Port::Peer => peer_answer(etcd, idx, &method, &path),
        Port::Client => client_answer(etcd, idx, &method, &path, &body).await,
    }
}

fn peer_answer(etcd: &EtcdSim, idx: usize, method: &Method, path: &str) -> Response<Body> {
    let id = identity(&etcd.cluster(), idx);
    let mut resp = match (method, path) {
        (&Method::GET, "/members") => {
            // etcd 3.4/3.5 write this array by hand: id as a JSON number, in this field order
            let items: Vec<String> = id
                .members
                .iter()
                .map(|(mid, name, peer, client)| {
                    format!(
                        "{{\"id\":{mid},\"peerURLs\":[{}],\"name\":{},\"clientURLs\":[{}]}}",
                        json!(peer),
                        json!(name),
                        json!(client)
                    )
                })
                .collect();
            bytes_response(200, "application/json", format!("[{}]", items.join(",")))
        }
        (&Method::GET, "/version") => {
            gateway(200, &json!({"etcdserver": VERSION, "etcdcluster": "3.5.0"}))
        }
        _ => bytes_response(404, "text/plain; charset=utf-8", "404 page not found\n"),
    };
    if let Ok(v) = http::HeaderValue::from_str(&format!("{:x}", id.cluster_id)) {
        resp.headers_mut().insert("X-Etcd-Cluster-Id", v);
    }
    resp
}

/// What a member's client port answers with (also what `etcdctl` in its pod prints).
pub(crate) struct Answer {
    pub id: Identity,
    /// It has a leader (an island leads itself).
    pub quorum: bool,
    pub alarms: Vec<u64>,
    pub db: u64,
    pub in_use: u64,
}

pub(crate) fn answer_of(cl: &Cluster, idx: usize) -> Answer {
    let m = &cl.members[idx];
    let own = matches!(m.state, MemberState::Island | MemberState::Rejoin);
    let alarms: Vec<u64> = if own { Vec::new() } else { cl.alarms.clone() };
    let (db, in_use) = if m.state == MemberState::Island {
        (20_480, 16_384)
    } else {
        (m.db_size, m.db_size / 10 * 7 / 4096 * 4096)
    };
    Answer {
        id: identity(cl, idx),
        quorum: own || cl.has_quorum(),
        alarms,
        db,
        in_use,
    }
}

async fn client_answer(
    etcd: &EtcdSim,
    idx: usize,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Body> {
    let Answer {
        id,
        quorum,
        alarms,
        db,
        in_use,
    } = answer_of(&etcd.cluster(), idx);
    match (method, path) {
        (&Method::POST, "/v3/maintenance/status") => {
            let mut v = json!({"header": header(&id, true), "version": VERSION, "dbSize": dec(db)});
            if let Some(l) = id.leader.filter(|_| quorum) {
                v["leader"] = json!(dec(l));
            }
            v["raftIndex"] = json!(dec(id.raft_index));
            v["raftTerm"] = json!(dec(id.raft_term));
            v["raftAppliedIndex"] = json!(dec(id.raft_index));
            let mut errors: Vec<String> = alarms
                .iter()
                .map(|a| format!("memberID:{a} alarm:NOSPACE "))
                .collect();
            if !quorum {
                errors.insert(0, "etcdserver: no leader".into());
            }
            if !errors.is_empty() {
                v["errors"] = json!(errors);
            }
            v["dbSizeInUse"] = json!(dec(in_use));
            gateway(200, &v)
        }
        (&Method::POST, "/v3/cluster/member/list") => {
            let members: Vec<Value> = id
                .members
                .iter()
                .map(|(mid, name, peer, client)| {
                    json!({"ID": dec(*mid), "name": name, "peerURLs": [peer], "clientURLs": [client]})
                })
                .collect();
            gateway(
                200,
                &json!({"header": header(&id, false), "members": members}),
            )
        }
        (&Method::POST, "/v3/maintenance/alarm") => {
            let v: Value = serde_json::from_slice(body).unwrap_or_default();
            let action = v.get("action").cloned().unwrap_or(json!("GET"));
            if action != json!("GET") && action != json!(0) {
                return gateway(
                    501,
                    &json!({"error": "the simulator serves alarm GET only", "code": 12}),
                );
            }
            if !quorum {
                tokio::time::sleep(READ_INDEX_TIMEOUT).await;
                return gateway_error("etcdserver: request timed out", 14);
            }
            let mut v = json!({"header": header(&id, true)});
            if !alarms.is_empty() {
                v["alarms"] = json!(
                    alarms
                        .iter()
                        .map(|a| json!({"memberID": dec(*a), "alarm": "NOSPACE"}))
                        .collect::<Vec<_>>()
                );
            }
            gateway(200, &v)
        }
        (&Method::POST, "/v3/kv/range") => {
            if !quorum {
                tokio::time::sleep(READ_INDEX_TIMEOUT).await;
                return gateway_error("etcdserver: request timed out", 14);
            }
            gateway(200, &json!({"header": header(&id, true)}))
        }
        (&Method::GET, "/health") => {
            let ok = quorum && alarms.is_empty();
            gateway(200, &json!({"health": ok.to_string()}))
        }
        (&Method::GET, "/version") => {
            gateway(200, &json!({"etcdserver": VERSION, "etcdcluster": "3.5.0"}))
        }
        _ => bytes_response(404, "text/plain; charset=utf-8", "404 page not found\n"),
    }
}
