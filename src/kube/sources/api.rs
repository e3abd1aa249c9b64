//! The API server's health, one request at a time: `GET /version` until it answers (at start and
//! after it stopped answering: the version names the distribution's commands), then `GET
//! /readyz?verbose` every `api_probe_secs` while it answers. That one heartbeat is both what the
//! status bar's API state comes from (watches cannot tell "idle" from "hung") and the API server's
//! own etcd check the etcd pane shows. While the API server does not answer: backoff (1 s doubling
//! to the cap, with jitter).

use std::time::Duration;

use super::{SourceCtx, classify, next_backoff};
use crate::model::etcd::EtcdMsg;
use crate::model::{Failure, FailureKind, SourceId};
use crate::msg::Msg;

pub async fn probe_api(ctx: SourceCtx) {
    let mut backoff = Duration::from_secs(1);
    // the version, once the API server answered; `None` again after it stopped answering
    let mut version: Option<String> = None;
    loop {
        let msgs = match &version {
            None => match ask_version(&ctx).await {
                Ok(v) => {
                    version = Some(v.clone());
                    backoff = Duration::from_secs(1);
                    // the heartbeat follows at once: the etcd check is shown from the start
                    if ctx.tx.send(Msg::ApiUp { version: v }).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(failure) => vec![Msg::SourceFailed(SourceId::Api, failure)],
            },
            Some(v) => {
                let v = v.clone();
                let readyz = ask_readyz(&ctx).await;
                let api = match &readyz {
                    Err(f) if f.kind == FailureKind::Unreachable => {
                        version = None;
                        Msg::SourceFailed(SourceId::Api, f.clone())
                    }
                    // any answer (a 500 "not ready", a 403) is an API server that answers
                    _ => Msg::ApiUp { version: v },
                };
                vec![api, Msg::Etcd(Box::new(EtcdMsg::Readyz(readyz)))]
            }
        };
        for msg in msgs {
            if ctx.tx.send(msg).await.is_err() {
                return;
            }
        }
        let wait = if version.is_some() {
            ctx.api_probe
        } else {
            let wait = backoff;
            backoff = next_backoff(backoff, ctx.backoff_cap);
            wait
        };
        tokio::time::sleep(wait).await;
    }
}

async fn ask_version(ctx: &SourceCtx) -> Result<String, Failure> {
    match tokio::time::timeout(ctx.request_timeout, ctx.client.apiserver_version()).await {
        Ok(Ok(info)) => Ok(info.git_version),
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(no_answer(ctx)),
    }
}

/// The etcd lines of `/readyz?verbose`, or why it could not be read.
async fn ask_readyz(ctx: &SourceCtx) -> Result<Vec<String>, Failure> {
    let req = http::Request::get("/readyz?verbose")
        .body(Vec::new())
        .map_err(|e| Failure {
            kind: FailureKind::Error,
            message: e.to_string(),
        })?;
    match tokio::time::timeout(ctx.request_timeout, ctx.client.request_text(req)).await {
        Ok(Ok(text)) => Ok(super::etcd::readyz_lines(&text)),
        Ok(Err(e)) => Err(classify(&e)),
        Err(_) => Err(no_answer(ctx)),
    }
}

fn no_answer(ctx: &SourceCtx) -> Failure {
    Failure {
        kind: FailureKind::Unreachable,
        message: format!("no answer within {} s", ctx.request_timeout.as_secs()),
    }
}
