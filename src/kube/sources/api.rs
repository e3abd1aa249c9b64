//! API server reachability: `GET /version` at start, then a heartbeat every `api_probe_secs` while it
//! answers, and backoff (1 s doubling to the cap, with jitter) while it does not. Watches cannot tell
//! "idle" from "hung", so this cheap probe is what the status bar's API state comes from.

use std::time::Duration;

use super::{SourceCtx, classify, next_backoff};
use crate::model::{Failure, FailureKind, SourceId};
use crate::msg::Msg;

pub async fn probe_api(ctx: SourceCtx) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let result =
            tokio::time::timeout(ctx.request_timeout, ctx.client.apiserver_version()).await;
        let (msg, wait) = match result {
            Ok(Ok(info)) => {
                backoff = Duration::from_secs(1);
                (
                    Msg::ApiUp {
                        version: info.git_version,
                    },
                    ctx.api_probe,
                )
            }
            Ok(Err(e)) => {
                let failure = classify(&e);
                let wait = backoff;
                backoff = next_backoff(backoff, ctx.backoff_cap);
                (Msg::SourceFailed(SourceId::Api, failure), wait)
            }
            Err(_) => {
                let wait = backoff;
                backoff = next_backoff(backoff, ctx.backoff_cap);
                let failure = Failure {
                    kind: FailureKind::Unreachable,
                    message: format!("no answer within {} s", ctx.request_timeout.as_secs()),
                };
                (Msg::SourceFailed(SourceId::Api, failure), wait)
            }
        };
        if ctx.tx.send(msg).await.is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}
