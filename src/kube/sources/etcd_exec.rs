//! etcd through the API server alone: `etcdctl … -w json` inside each etcd pod over pods/exec (the
//! Rancher guide's RKE2 loop, `kubectl -n kube-system exec etcd-<node> -- etcdctl …`), with the pod's
//! own certificate paths read from its command line. Opt-in per context; a write for the read-only
//! gate (the session never starts it in read-only mode, and the gate would refuse it anyway).
//!
//! First a SelfSubjectAccessReview for `create pods/exec` in `kube-system`: no blind attempts. Then a
//! round every [`EVERY`]: per running etcd pod, `endpoint status --cluster`, `member list` and
//! `alarm list`, concurrently; the answers become one [`Round`] whose endpoints are the members'
//! client URLs (what `--cluster` reaches), fed to the same model and rules as the direct probe.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, ListParams, PostParams};
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::etcd::ETCD_SELECTOR;
use super::{SourceCtx, classify};
use crate::etcd::client::{ErrorKind, EtcdError};
use crate::etcd::probe::{EndpointProbe, Round, Via};
use crate::etcd::wire::{AlarmList, MemberList, Status, same_url};
use crate::model::etcd::{EtcdMsg, EtcdPodRow};
use crate::model::{Failure, FailureKind};
use crate::msg::Msg;

const NAMESPACE: &str = "kube-system";
pub use crate::model::etcd::exec::{COMMANDS, EVERY, Etcdctl, Targets, etcdctl_for, targets};

/// What one exec printed.
#[derive(Debug, Default)]
pub struct Printed {
    pub stdout: String,
    pub stderr: String,
    /// The kubelet's final Status message when the command failed (or the exec error).
    pub failure: Option<String>,
}

async fn exec(api: &Api<Pod>, pod: &str, argv: Vec<String>, timeout: Duration) -> Printed {
    let ap = AttachParams::default()
        .container("etcd")
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let run = async {
        let mut p = api
            .exec(pod, argv, &ap)
            .await
            .map_err(|e| classify(&e).message)?;
        let status = p.take_status();
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(mut s) = p.stdout() {
            let _ = s.read_to_string(&mut out).await;
        }
        if let Some(mut s) = p.stderr() {
            let _ = s.read_to_string(&mut err).await;
        }
        let st = match status {
            Some(s) => s.await,
            None => None,
        };
        let _ = p.join().await;
        let failure = st
            .filter(|s| s.status.as_deref() != Some("Success"))
            .map(|s| s.message.unwrap_or_default());
        Ok::<Printed, String>(Printed {
            stdout: out,
            stderr: err,
            failure,
        })
    };
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Printed {
            failure: Some(e),
            ..Printed::default()
        },
        Err(_) => Printed {
            failure: Some(format!("exec timed out after {} s", timeout.as_secs())),
            ..Printed::default()
        },
    }
}

#[derive(Deserialize)]
struct StatusItem {
    #[serde(rename = "Endpoint")]
    endpoint: String,
    #[serde(rename = "Status")]
    status: Status,
}

fn error(kind: ErrorKind, message: String) -> EtcdError {
    EtcdError { kind, message }
}

/// One pod's answers to [`COMMANDS`].
pub struct PodAnswer {
    pub pod: String,
    pub status: Printed,
    pub members: Printed,
    pub alarms: Printed,
}

/// `Failed to get the status of endpoint URL (reason)` lines.
fn failed_endpoints(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Failed to get the status of endpoint ")?;
            let (url, why) = rest.split_once(" (")?;
            Some((url.to_string(), why.trim_end_matches(')').to_string()))
        })
        .collect()
}

fn why(p: &Printed) -> String {
    let text = p
        .stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("");
    match (&p.failure, text) {
        (_, t) if !t.is_empty() => t.to_string(),
        (Some(f), _) => f.clone(),
        (None, _) => "no output".into(),
    }
}

/// Fold every pod's answers into one round (endpoint = member client URL): what the exec source
/// feeds the model (`tests/etcd_real_exec.rs` feeds it a real etcdctl's output).
pub fn round(answers: Vec<PodAnswer>, started: chrono::DateTime<Utc>, took: Duration) -> Round {
    let mut eps: Vec<EndpointProbe> = Vec::new();
    let blank = |url: &str, e: EtcdError| EndpointProbe {
        endpoint: url.to_string(),
        status: Err(e.clone()),
        status_ms: None,
        members: Err(e.clone()),
        alarms: Err(e.clone()),
        health: Err(e),
        peer: None,
        learned: false,
        via: Via::EXEC,
    };
    for a in &answers {
        let items: Vec<StatusItem> =
            serde_json::from_str(a.status.stdout.trim()).unwrap_or_default();
        for it in items {
            let healthy =
                it.status.leader != 0 && !it.status.errors.iter().any(|e| e.contains("no leader"));
            let health = if healthy {
                Ok(0)
            } else {
                Err(error(ErrorKind::Server, "etcdserver: no leader".into()))
            };
            match eps.iter_mut().find(|p| same_url(&p.endpoint, &it.endpoint)) {
                Some(p) if p.status.is_ok() => {}
                Some(p) => {
                    p.status = Ok(it.status);
                    p.health = health;
                }
                None => {
                    let mut p = blank(&it.endpoint, error(ErrorKind::Server, "no answer".into()));
                    p.status = Ok(it.status);
                    p.health = health;
                    eps.push(p);
                }
            }
        }
        for (url, reason) in failed_endpoints(&a.status.stderr) {
            if !eps.iter().any(|p| same_url(&p.endpoint, &url)) {
                eps.push(blank(
                    &url,
                    error(
                        ErrorKind::Timeout,
                        format!("etcdctl in {}: {reason}", a.pod),
                    ),
                ));
            }
        }
    }
    // member and alarm lists answer for the pod's own member (the list's header names it)
    for a in &answers {
        let list: Option<MemberList> = serde_json::from_str(a.members.stdout.trim()).ok();
        let Some(list) = list else { continue };
        let own = list.header.member_id;
        let alarms: Result<AlarmList, EtcdError> = serde_json::from_str(a.alarms.stdout.trim())
            .map_err(|_| {
                error(
                    ErrorKind::Server,
                    format!("etcdctl alarm list in {}: {}", a.pod, why(&a.alarms)),
                )
            });
        if let Some(p) = eps.iter_mut().find(|p| p.member_id() == Some(own)) {
            p.members = Ok(list);
            p.alarms = alarms;
        }
    }
    Round {
        started,
        took_ms: took.as_millis() as u64,
        endpoints: eps,
    }
}

/// May this user exec into the etcd pods? (`create pods/exec` in kube-system.)
async fn may_exec(ctx: &SourceCtx) -> Result<(), Failure> {
    let api: Api<SelfSubjectAccessReview> = Api::all(ctx.client.clone());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(NAMESPACE.into()),
                verb: Some("create".into()),
                resource: Some("pods".into()),
                subresource: Some("exec".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = tokio::time::timeout(
        ctx.request_timeout,
        api.create(&PostParams::default(), &review),
    )
    .await
    .map_err(|_| Failure {
        kind: FailureKind::Unreachable,
        message: "the access review for pods/exec timed out".into(),
    })?
    .map_err(|e| classify(&e))?;
    match answer.status {
        Some(s) if s.allowed => Ok(()),
        _ => Err(Failure {
            kind: FailureKind::Forbidden,
            message: "needs create pods/exec in namespace kube-system (SelfSubjectAccessReview: not allowed); nothing was run, the etcd pods' logs still feed the rules".into(),
        }),
    }
}

async fn send(ctx: &SourceCtx, m: EtcdMsg) -> bool {
    ctx.tx.send(Msg::Etcd(Box::new(m))).await.is_ok()
}

/// The exec source.
pub async fn run(ctx: SourceCtx) {
    if let Err(f) = may_exec(&ctx).await {
        let _ = send(&ctx, EtcdMsg::Exec(Err(f))).await;
        return;
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    let timeout = ctx.request_timeout * 3;
    loop {
        let started = Utc::now();
        let t = Instant::now();
        let pods = match tokio::time::timeout(
            ctx.request_timeout,
            api.list(&ListParams::default().match_any().labels(ETCD_SELECTOR)),
        )
        .await
        {
            Ok(Ok(l)) => l.items,
            Ok(Err(e)) => {
                let _ = send(&ctx, EtcdMsg::Exec(Err(classify(&e)))).await;
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let rows: Vec<EtcdPodRow> = pods.into_iter().map(super::etcd::pod_row).collect();
        let targets: Vec<(String, Etcdctl)> = targets(&rows)
            .pods
            .into_iter()
            .map(|(pod, _, ctl)| (pod, ctl))
            .collect();
        if targets.is_empty() {
            let f = Failure {
                kind: FailureKind::Error,
                message: "no running etcd pod whose command line names its certificates (k3s runs etcd inside the k3s process, RKE1 in a Docker container: no pod to exec into)".into(),
            };
            if !send(&ctx, EtcdMsg::Exec(Err(f))).await {
                return;
            }
        } else {
            let note = format!(
                "etcdctl inside {} etcd pod(s) through pods/exec, with each pod's own certificates ({})",
                targets.len(),
                targets[0].1.cert
            );
            if !send(&ctx, EtcdMsg::Exec(Ok(note))).await {
                return;
            }
            let answers = join_all(targets.iter().map(|(pod, ctl)| {
                let api = api.clone();
                async move {
                    let [status, members, alarms] = COMMANDS;
                    let (status, members, alarms) = tokio::join!(
                        exec(&api, pod, ctl.argv(status), timeout),
                        exec(&api, pod, ctl.argv(members), timeout),
                        exec(&api, pod, ctl.argv(alarms), timeout),
                    );
                    PodAnswer {
                        pod: pod.clone(),
                        status,
                        members,
                        alarms,
                    }
                }
            }))
            .await;
            let failed: Vec<String> = answers
                .iter()
                .filter(|a| a.status.stdout.trim().is_empty())
                .map(|a| format!("{}: {}", a.pod, why(&a.status)))
                .collect();
            let r = round(answers, started, t.elapsed());
            let msg = if r.endpoints.is_empty() {
                EtcdMsg::Exec(Err(Failure {
                    kind: FailureKind::Error,
                    message: format!(
                        "etcdctl in the etcd pods answered nothing: {}",
                        failed.join("; ")
                    ),
                }))
            } else {
                EtcdMsg::ExecRound(r)
            };
            if !send(&ctx, msg).await {
                return;
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn certificates_from_the_pods_command_line() {
        let kubeadm = etcdctl_for(&s(&[
            "etcd",
            "--advertise-client-urls=https://10.0.0.11:2379",
            "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
            "--key-file=/etc/kubernetes/pki/etcd/server.key",
            "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.11:2379",
            "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
        ]))
        .unwrap();
        assert_eq!(kubeadm.cacert, "/etc/kubernetes/pki/etcd/ca.crt");
        assert_eq!(kubeadm.endpoint, "https://127.0.0.1:2379");
        let rke2 = etcdctl_for(&s(&[
            "etcd",
            "--config-file=/var/lib/rancher/rke2/server/db/etcd/config",
        ]))
        .unwrap();
        assert_eq!(
            rke2.cert,
            "/var/lib/rancher/rke2/server/tls/etcd/server-client.crt"
        );
        assert_eq!(rke2.endpoint, "https://127.0.0.1:2379");
        let k3s = etcdctl_for(&s(&[
            "etcd",
            "--data-dir=/var/lib/rancher/k3s/server/db/etcd",
        ]))
        .unwrap();
        assert_eq!(
            k3s.key,
            "/var/lib/rancher/k3s/server/tls/etcd/server-client.key"
        );
        assert_eq!(etcdctl_for(&s(&["etcd", "--data-dir=/var/lib/etcd"])), None);
        let argv = rke2.argv(&["member", "list"]);
        assert_eq!(argv[0], "etcdctl");
        assert_eq!(
            &argv[argv.len() - 4..],
            &s(&["-w", "json", "member", "list"])
        );
    }

    #[test]
    fn real_etcdctl_output_becomes_a_round() {
        // etcdctl 3.4.23 output, measured (REAL-SERVERS.md §1)
        let status = Printed {
            stdout: r#"[{"Endpoint":"http://127.0.0.1:32379","Status":{"header":{"cluster_id":10691867111653563428,"member_id":7043420851810188903,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":7043420851810188903,"raftIndex":9,"raftTerm":2,"raftAppliedIndex":9,"dbSizeInUse":16384}}]"#.into(),
            stderr: "{\"level\":\"warn\"}\nFailed to get the status of endpoint http://127.0.0.1:32399 (context deadline exceeded)\n".into(),
            failure: Some("command terminated with non-zero exit code".into()),
        };
        let members = Printed {
            stdout: r#"{"header":{"cluster_id":10691867111653563428,"member_id":7043420851810188903,"raft_term":2},"members":[{"ID":7043420851810188903,"name":"m1","peerURLs":["http://127.0.0.1:32380"],"clientURLs":["http://127.0.0.1:32379"]}]}"#.into(),
            ..Printed::default()
        };
        let alarms = Printed {
            stdout: "{}\n".into(),
            ..Printed::default()
        };
        let r = round(
            vec![PodAnswer {
                pod: "etcd-a".into(),
                status,
                members,
                alarms,
            }],
            Utc::now(),
            Duration::from_millis(5),
        );
        assert_eq!(r.endpoints.len(), 2);
        let ok = &r.endpoints[0];
        assert_eq!(ok.member_id(), Some(7043420851810188903));
        assert!(ok.members.is_ok() && ok.alarms.is_ok() && ok.health.is_ok());
        assert_eq!(ok.via, Via::EXEC);
        let down = &r.endpoints[1];
        assert_eq!(down.endpoint, "http://127.0.0.1:32399");
        assert!(
            down.status
                .as_ref()
                .unwrap_err()
                .message
                .contains("context deadline exceeded")
        );
    }
}
