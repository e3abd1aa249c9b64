//! The one `Executor`: the only code that sends requests outside the read-only allow-list.
//!
//! Every action follows one path: refuse in read-only mode (nothing sent, nothing journaled) → read
//! `before` → journal intent (fsynced) → server-side dry run → write (field manager `ktriage`) →
//! annotation `ktriage.io/last-action` and a `KtriageAction` Event (best effort, recorded in
//! `side_effects`) → re-read to verify → journal outcome.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{Value, json};

use crate::journal::Journal;
use crate::mutation::Mutation;

pub const FIELD_MANAGER: &str = "ktriage";
pub const LAST_ACTION_ANNOTATION: &str = "ktriage.io/last-action";

/// The contract's `result` values, plus `refused` (read-only: nothing sent, not journaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeResult {
    Applied,
    Unverified,
    Rejected,
    Failed,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: String,
    #[serde(skip)]
    pub mutation: Mutation,
    pub result: OutcomeResult,
    /// `read`, `dry-run`, `write`, `verify` or `read-only`.
    pub stage: &'static str,
    pub error: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub side_effects: Vec<String>,
}

impl Outcome {
    /// One line for the status bar.
    pub fn summary(&self) -> String {
        let what = self.mutation.describe();
        match self.result {
            OutcomeResult::Applied => format!("applied and verified: {what}"),
            OutcomeResult::Unverified => format!(
                "UNVERIFIED: {what} was accepted but the re-read does not show it{}",
                self.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
            OutcomeResult::Rejected => format!(
                "REJECTED at {}: {what}: {}",
                self.stage,
                self.error.as_deref().unwrap_or("refused by the server")
            ),
            OutcomeResult::Failed => format!(
                "FAILED at {}: {what}: {}",
                self.stage,
                self.error.as_deref().unwrap_or("unknown error")
            ),
            OutcomeResult::Refused => format!("read-only mode: refused {what}; nothing was sent"),
        }
    }
}

/// Who acts, for the journal and the annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub context: String,
    pub cluster: String,
    /// The kubeconfig user name (the server's view is asked with a SelfSubjectReview).
    pub kube_user: Option<String>,
}

pub struct Executor {
    client: Client,
    read_only: bool,
    journal: Journal,
    identity: Identity,
}

enum Step {
    Rejected(String),
    Failed(String),
}

fn step_err(e: kube::Error) -> Step {
    match &e {
        kube::Error::Api(s) if (400..500).contains(&s.code) => {
            Step::Rejected(format!("{} {}: {}", s.code, s.reason, s.message))
        }
        kube::Error::Api(s) => Step::Failed(format!("{} {}: {}", s.code, s.reason, s.message)),
        other => Step::Failed(crate::kube::context::error_chain(other)),
    }
}

impl Executor {
    pub fn new(client: Client, read_only: bool, journal: Journal, identity: Identity) -> Executor {
        Executor {
            client,
            read_only,
            journal,
            identity,
        }
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Run one mutation end to end. Never panics; every failure is an `Outcome`.
    pub async fn execute(&self, mutation: &Mutation) -> Outcome {
        let now = Utc::now();
        let id = format!("{}-{:08x}", now.format("%Y%m%dT%H%M%SZ"), fastrand::u32(..));
        let mut out = Outcome {
            id,
            mutation: mutation.clone(),
            result: OutcomeResult::Refused,
            stage: "read-only",
            error: None,
            before: None,
            after: None,
            side_effects: Vec::new(),
        };
        if self.read_only {
            out.error = Some("read-only mode".into());
            return out;
        }
        match mutation {
            Mutation::Scale {
                namespace,
                name,
                replicas,
            } => self.scale(&mut out, namespace, name, *replicas, now).await,
        }
        out
    }

    async fn scale(
        &self,
        out: &mut Outcome,
        namespace: &str,
        name: &str,
        replicas: i32,
        now: DateTime<Utc>,
    ) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), namespace);
        // before
        out.stage = "read";
        let before = match api.get_scale(name).await {
            Ok(s) => s.spec.and_then(|s| s.replicas).unwrap_or(0),
            Err(e) => return self.fail_early(out, step_err(e)),
        };
        out.before = Some(json!({ "replicas": before }));
        let user = self.whoami().await;
        // intent, fsynced before the first request that could change anything
        let intent = json!({
            "phase": "intent",
            "id": out.id,
            "time": now.to_rfc3339(),
            "context": self.identity.context,
            "cluster": self.identity.cluster,
            "user": user,
            "object": out.mutation.object(),
            "mutation": {
                "type": out.mutation.kind(),
                "describe": out.mutation.describe(),
                "patch": out.mutation.patch(),
                "kubectl": out.mutation.kubectl(Some(&self.identity.context)),
            },
            "before": out.before,
        });
        if let Err(e) = self.journal.append(&intent) {
            out.result = OutcomeResult::Failed;
            out.stage = "journal";
            out.error = Some(format!("not sent: cannot write the journal first: {e}"));
            return;
        }
        let patch = Patch::Merge(out.mutation.patch());
        // dry run
        out.stage = "dry-run";
        let dry = PatchParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        if let Err(e) = api.patch_scale(name, &dry, &patch).await {
            let step = step_err(e);
            return self.finish_failed(out, step, false, &api, name).await;
        }
        // write
        out.stage = "write";
        let pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        if let Err(e) = api.patch_scale(name, &pp, &patch).await {
            let step = step_err(e);
            return self.finish_failed(out, step, true, &api, name).await;
        }
        // side effects: annotation (a second patch: /scale carries no metadata) and an Event
        let note = json!({
            "who": user["kubernetes"],
            "os_user": user["os"],
            "when": now.to_rfc3339(),
            "why": out.mutation.describe(),
            "id": out.id,
        })
        .to_string();
        let annotate =
            Patch::Merge(json!({"metadata": {"annotations": {LAST_ACTION_ANNOTATION: note}}}));
        match api.patch(name, &pp, &annotate).await {
            Ok(_) => out
                .side_effects
                .push(format!("annotated {LAST_ACTION_ANNOTATION}")),
            Err(e) => out.side_effects.push(format!(
                "annotation failed: {}",
                crate::kube::context::error_chain(&e)
            )),
        }
        self.emit_event(out, namespace, name, now).await;
        // verify
        out.stage = "verify";
        match api.get_scale(name).await {
            Ok(s) => {
                let got = s.spec.and_then(|s| s.replicas).unwrap_or(0);
                out.after = Some(json!({ "replicas": got }));
                if got == replicas {
                    out.result = OutcomeResult::Applied;
                } else {
                    out.result = OutcomeResult::Unverified;
                    out.error = Some(format!("re-read shows {got} replicas, expected {replicas}"));
                }
            }
            Err(e) => {
                out.result = OutcomeResult::Unverified;
                out.error = Some(format!(
                    "re-read failed: {}",
                    crate::kube::context::error_chain(&e)
                ));
            }
        }
        self.write_outcome(out);
    }

    /// A failure before the intent line: nothing was journaled because nothing was sent.
    fn fail_early(&self, out: &mut Outcome, step: Step) {
        let (result, err) = match step {
            Step::Rejected(m) => (OutcomeResult::Rejected, m),
            Step::Failed(m) => (OutcomeResult::Failed, m),
        };
        out.result = result;
        out.error = Some(err);
    }

    /// A failed dry run or write: record it, and after a write whose fate is unknown, re-read.
    async fn finish_failed(
        &self,
        out: &mut Outcome,
        step: Step,
        reread: bool,
        api: &Api<Deployment>,
        name: &str,
    ) {
        match step {
            Step::Rejected(m) => {
                out.result = OutcomeResult::Rejected;
                out.error = Some(m);
            }
            Step::Failed(m) => {
                out.result = OutcomeResult::Failed;
                out.error = Some(m);
                if reread && let Ok(s) = api.get_scale(name).await {
                    out.after =
                        Some(json!({ "replicas": s.spec.and_then(|s| s.replicas).unwrap_or(0) }));
                }
            }
        }
        self.write_outcome(out);
    }

    fn write_outcome(&self, out: &mut Outcome) {
        let line = json!({
            "phase": "outcome",
            "id": out.id,
            "time": Utc::now().to_rfc3339(),
            "stage": out.stage,
            "result": out.result,
            "after": out.after,
            "error": out.error,
            "side_effects": out.side_effects,
        });
        if let Err(e) = self.journal.append(&line) {
            out.side_effects
                .push(format!("outcome line not journaled: {e}"));
        }
    }

    async fn emit_event(&self, out: &mut Outcome, namespace: &str, name: &str, now: DateTime<Utc>) {
        let obj = out.mutation.object();
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}.ktriage-"), "namespace": namespace},
            "involvedObject": {"apiVersion": obj.api_version, "kind": obj.kind, "namespace": namespace, "name": name},
            "reason": "KtriageAction",
            "message": format!("{} (ktriage action {})", out.mutation.describe(), out.id),
            "type": "Normal",
            "source": {"component": "ktriage"},
            "reportingComponent": "ktriage",
            "reportingInstance": hostname(),
            "firstTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "lastTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "count": 1,
        });
        let result = match serde_json::from_value::<Event>(ev) {
            Ok(ev) => {
                let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
                let pp = PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                };
                api.create(&pp, &ev)
                    .await
                    .map(|_| ())
                    .map_err(|e| crate::kube::context::error_chain(&e))
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => out.side_effects.push("event KtriageAction recorded".into()),
            Err(e) => out.side_effects.push(format!("event failed: {e}")),
        }
    }

    /// The identity the API server reports (SelfSubjectReview, where served), the kubeconfig user and
    /// the local OS user.
    async fn whoami(&self) -> Value {
        let api: Api<SelfSubjectReview> = Api::all(self.client.clone());
        let server_view = match api
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(r) => r.status.and_then(|s| s.user_info).and_then(|u| u.username),
            Err(_) => None,
        };
        json!({
            "kubernetes": server_view.or_else(|| self.identity.kube_user.clone()),
            "kubeconfig_user": self.identity.kube_user,
            "os": os_user(),
        })
    }
}

pub fn os_user() -> Option<String> {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
