//! The one view stream: a pod's logs (follow, `--previous`, container, tail) sent to the model in
//! batches, or the pod object for the YAML and describe views. At most one runs; opening another
//! view (or closing it) aborts the previous task. The model keeps the lines in a ring-capped buffer;
//! the bounded channel pushes back on a chatty pod instead of queueing without limit.

use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::msg::Msg;

/// Lines per message at most, and how long a partial batch waits for more.
const BATCH: usize = 500;
const BATCH_WAIT: Duration = Duration::from_millis(50);

pub use crate::model::view::ViewRequest;

/// The running view task, if any.
#[derive(Default)]
pub struct ViewTask(Option<JoinHandle<()>>);

impl ViewTask {
    pub fn start(&mut self, req: ViewRequest, client: Option<Client>, tx: mpsc::Sender<Msg>) {
        self.stop();
        let Some(client) = client else {
            // a replay, or no cluster configured: the view says why instead of loading forever
            let id = match req {
                ViewRequest::Logs { id, .. } | ViewRequest::Object { id, .. } => id,
                ViewRequest::Stop => return,
            };
            let _ = tx.try_send(Msg::ViewEnded {
                id,
                error: Some(
                    "no cluster client here (a replay, or no cluster configured): logs, YAML and describe read the live cluster"
                        .into(),
                ),
            });
            return;
        };
        let handle = match req {
            ViewRequest::Stop => return,
            ViewRequest::Object { id, namespace, pod } => tokio::spawn(async move {
                let api: Api<Pod> = Api::namespaced(client, &namespace);
                let msg = match api.get(&pod).await {
                    Ok(p) => match serde_json::to_value(&p) {
                        Ok(object) => Msg::ViewObject { id, object },
                        Err(e) => Msg::ViewEnded {
                            id,
                            error: Some(e.to_string()),
                        },
                    },
                    Err(e) => Msg::ViewEnded {
                        id,
                        error: Some(crate::text::error_chain(&e)),
                    },
                };
                let _ = tx.send(msg).await;
            }),
            ViewRequest::Logs {
                id,
                namespace,
                pod,
                container,
                previous,
                follow,
                tail,
            } => tokio::spawn(async move {
                let lp = LogParams {
                    container,
                    previous,
                    follow: follow && !previous,
                    tail_lines: Some(tail),
                    ..LogParams::default()
                };
                let api: Api<Pod> = Api::namespaced(client, &namespace);
                let error = match api.log_stream(&pod, &lp).await {
                    Ok(reader) => pump(id, reader.lines(), &tx).await,
                    Err(e) => Some(crate::text::error_chain(&e)),
                };
                let _ = tx.send(Msg::ViewEnded { id, error }).await;
            }),
        };
        self.0 = Some(handle);
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// Forward lines in batches until the stream ends; returns its error, if any.
pub async fn pump<S>(id: u64, mut lines: S, tx: &mpsc::Sender<Msg>) -> Option<String>
where
    S: futures::Stream<Item = std::io::Result<String>> + Unpin,
{
    let mut batch: Vec<String> = Vec::new();
    loop {
        let next = if batch.is_empty() {
            Some(lines.next().await)
        } else {
            tokio::time::timeout(BATCH_WAIT, lines.next()).await.ok()
        };
        match next {
            Some(Some(Ok(line))) => {
                batch.push(line);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Some(Some(Err(e))) => {
                flush(id, &mut batch, tx).await;
                return Some(e.to_string());
            }
            Some(None) => {
                flush(id, &mut batch, tx).await;
                return None;
            }
            None => {} // a quiet moment: send what we have
        }
        if !flush(id, &mut batch, tx).await {
            return None; // the app is gone
        }
    }
}

async fn flush(id: u64, batch: &mut Vec<String>, tx: &mpsc::Sender<Msg>) -> bool {
    if batch.is_empty() {
        return true;
    }
    let lines = std::mem::take(batch);
    tx.send(Msg::ViewLines { id, lines }).await.is_ok()
}
