//! The one `Executor`: the only code that sends requests outside the read-only allow-list.
//!
//! Every action follows one path (`Executor::run`): refuse in read-only mode (nothing sent, nothing
//! journaled) → read `before` → journal intent (fsynced) → server-side dry run → write (field manager
//! `ktriage`) → annotation `ktriage.io/last-action` and a `KtriageAction` Event (best effort, recorded
//! in `side_effects`) → re-read to verify → journal outcome. What each mutation reads, sends and
//! checks is in `executor/steps.rs`, one match arm per mutation and step.

mod pods;
mod steps;

use chrono::{DateTime, Utc};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Event;
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::journal::Journal;
use crate::mutation::Mutation;

pub use crate::mutation::{FIELD_MANAGER, LAST_ACTION_ANNOTATION, Outcome, OutcomeResult};

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

pub(crate) enum Step {
    Rejected(String),
    Failed(String),
}

pub(crate) fn step_err(e: kube::Error) -> Step {
    match &e {
        kube::Error::Api(s) if (400..500).contains(&s.code) => {
            Step::Rejected(format!("{} {}: {}", s.code, s.reason, s.message))
        }
        kube::Error::Api(s) => Step::Failed(format!("{} {}: {}", s.code, s.reason, s.message)),
        other => Step::Failed(crate::text::error_chain(other)),
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
        self.run(&mut out, now).await;
        out
    }

    /// The one flow every mutation follows; what differs per mutation is in `steps`.
    async fn run(&self, out: &mut Outcome, now: DateTime<Utc>) {
        let m = out.mutation.clone();
        // before
        out.stage = "read";
        let before = match steps::read(&self.client, &m).await {
            Ok(v) => v,
            Err(e) => return self.fail_early(out, e),
        };
        out.before = Some(before.clone());
        let user = self.whoami().await;
        let note = json!({
            "who": user["kubernetes"],
            "os_user": user["os"],
            "when": now.to_rfc3339(),
            "why": m.why(),
            "id": out.id,
        })
        .to_string();
        // intent, fsynced before the first request that could change anything
        let intent = json!({
            "phase": "intent",
            "id": out.id,
            "time": now.to_rfc3339(),
            "context": self.identity.context,
            "cluster": self.identity.cluster,
            "user": user,
            "object": m.object(),
            "mutation": {
                "type": m.kind(),
                "describe": m.describe(),
                "patch": m.patch(),
                "kubectl": m.kubectl(Some(&self.identity.context)),
            },
            "before": out.before,
        });
        if let Err(e) = self.journal.append(&intent) {
            out.result = OutcomeResult::Failed;
            out.stage = "journal";
            out.error = Some(format!("not sent: cannot write the journal first: {e}"));
            return;
        }
        // dry run, then the write
        out.stage = "dry-run";
        if let Err(step) = steps::send(&self.client, &m, &before, &note, true).await {
            return self.finish_failed(out, step, false).await;
        }
        out.stage = "write";
        match steps::send(&self.client, &m, &before, &note, false).await {
            Ok(report) => out.side_effects.extend(report),
            Err(step) => return self.finish_failed(out, step, true).await,
        }
        // side effects: annotation (unless the write carried it) and an Event
        let side = steps::annotate(&self.client, &m, &note).await;
        out.side_effects.push(side);
        let who = user["kubernetes"]
            .as_str()
            .or(user["os"].as_str())
            .unwrap_or("someone")
            .to_string();
        self.emit_event(out, &who, now).await;
        // verify by re-reading
        out.stage = "verify";
        let v = steps::verify(&self.client, &m).await;
        out.after = v.after;
        match v.problem {
            None => out.result = OutcomeResult::Applied,
            Some(why) => {
                out.result = OutcomeResult::Unverified;
                out.error = Some(why);
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
    async fn finish_failed(&self, out: &mut Outcome, step: Step, reread: bool) {
        match step {
            Step::Rejected(m) => {
                out.result = OutcomeResult::Rejected;
                out.error = Some(m);
            }
            Step::Failed(m) => {
                out.result = OutcomeResult::Failed;
                out.error = Some(m);
                if reread {
                    out.after = steps::verify(&self.client, &out.mutation).await.after;
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

    /// The `KtriageAction` Event: what was done, by whom, with the action's id (other consoles
    /// read it to warn before acting on the same object, `model::events::others_actions`).
    async fn emit_event(&self, out: &mut Outcome, who: &str, now: DateTime<Utc>) {
        let obj = out.mutation.object();
        let name = obj.name.as_str();
        // cluster-scoped objects get their Event in `default`
        let namespace = obj.namespace.as_deref().unwrap_or("default");
        let mut involved = json!({"apiVersion": obj.api_version, "kind": obj.kind, "name": name});
        if let Some(ns) = &obj.namespace {
            involved["namespace"] = json!(ns);
        }
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}.ktriage-"), "namespace": namespace},
            "involvedObject": involved,
            "reason": "KtriageAction",
            "message": format!("{} by {who} (ktriage action {})", out.mutation.describe(), out.id),
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
                    .map_err(|e| crate::text::error_chain(&e))
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
