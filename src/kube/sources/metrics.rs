//! metrics.k8s.io lists (which cannot be watched), decoded as they arrive: each item becomes a
//! `namespace/name` (or node name) and its usage as soon as it is read. A 50,000-pod list is ~17 MB
//! of JSON; read whole as text and then decoded it added ~40 MB to the console's peak at every
//! poll. Parsing it into a `serde_json::Value` cost hundreds of MB (BENCHMARKS.md, issue 13).

use std::borrow::Cow;
use std::io::Read;

use futures::{AsyncBufReadExt, StreamExt};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use super::streamed::{self, EachItem};
use super::{SourceCtx, classify};
use crate::model::quantity;
use crate::model::top::{MetricsSnapshot, Usage};
use crate::model::{Failure, FailureKind};

/// How a 404 from metrics.k8s.io starts its message (the poller turns it into "not configured").
pub const NOT_SERVED: &str = "metrics-server not installed";

/// One poll: the pods list (of `-n`'s namespace, or all) and the nodes list.
pub async fn poll(ctx: &SourceCtx) -> Result<MetricsSnapshot, Failure> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let pods_path = match &ctx.namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/pods"),
        None => format!("{base}/pods"),
    };
    let pods = fetch(ctx, &pods_path, Of::Pods).await?;
    let nodes = fetch(ctx, &format!("{base}/nodes"), Of::Nodes).await?;
    Ok(MetricsSnapshot {
        pods: pods.into_iter().collect(),
        nodes: nodes.into_iter().collect(),
    })
}

/// Usage from the metrics.k8s.io answers `(path, text)` for pods and for nodes; an answer that is
/// not a metrics list is an error naming its path.
pub fn metrics_snapshot(
    pods: (&str, &str),
    nodes: (&str, &str),
) -> Result<MetricsSnapshot, Failure> {
    let read = |(path, text): (&str, &str), of| {
        decode_usage(text.as_bytes(), of).map_err(|e| not_a_list(path, &e))
    };
    Ok(MetricsSnapshot {
        pods: read(pods, Of::Pods)?.into_iter().collect(),
        nodes: read(nodes, Of::Nodes)?.into_iter().collect(),
    })
}

fn not_a_list(path: &str, e: &serde_json::Error) -> Failure {
    Failure {
        kind: FailureKind::Error,
        message: format!("{path}: not a metrics list: {e}"),
    }
}

/// One list's items as `(namespace/name, usage)` (nodes: `(name, usage)`), read as they arrive.
async fn fetch(ctx: &SourceCtx, path: &str, of: Of) -> Result<Vec<(String, Usage)>, Failure> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| Failure {
            kind: FailureKind::Error,
            message: e.to_string(),
        })?;
    let read = async {
        let body = ctx
            .client
            .request_stream(req)
            .await
            .map_err(|e| failed(&e))?;
        // the answer's bytes as they come, chunk by chunk
        let chunks = futures::stream::unfold(Box::pin(body), |mut body| async move {
            let chunk = match body.fill_buf().await {
                Ok([]) => return None,
                Ok(buf) => Ok(bytes::Bytes::copy_from_slice(buf)),
                Err(e) => Err(e),
            };
            if let Ok(c) = &chunk {
                body.consume_unpin(c.len());
            }
            Some((chunk, body))
        });
        streamed::decode(chunks.boxed(), move |c| decode_usage(c, of))
            .await
            .map_err(|e| Failure {
                kind: FailureKind::Unreachable,
                message: format!("{path}: the answer broke off: {e}"),
            })?
            .map_err(|e| Failure {
                kind: FailureKind::Error,
                message: format!("{path}: {e}"),
            })?
            .map_err(|e| not_a_list(path, &e))
    };
    tokio::time::timeout(ctx.request_timeout, read)
        .await
        .map_err(|_| Failure {
            kind: FailureKind::Unreachable,
            message: format!(
                "metrics.k8s.io: no answer within {} s",
                ctx.request_timeout.as_secs()
            ),
        })?
}

/// Why a metrics list could not be read: not installed (404), unavailable (503), or as any request.
fn failed(e: &kube::Error) -> Failure {
    match e {
        // not served at all: metrics-server is not installed (no APIService for metrics.k8s.io)
        kube::Error::Api(s) if s.code == 404 => Failure {
            kind: FailureKind::Error,
            message: format!(
                "{NOT_SERVED} (metrics.k8s.io is not served); showing requests and limits only"
            ),
        },
        _ => {
            let mut f = classify(e);
            if matches!(e, kube::Error::Api(s) if s.code == 503) {
                f.kind = FailureKind::Error;
                f.message = format!(
                    "metrics-server unavailable (metrics.k8s.io: {}); showing requests and limits only",
                    f.message
                );
            }
            f
        }
    }
}

/// What a metrics list lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Of {
    /// `PodMetrics`, keyed `namespace/name`, the sum of their containers.
    Pods,
    /// `NodeMetrics`, keyed by name.
    Nodes,
}

/// A metrics list's items decoded one at a time, reduced to a key and a usage as each is read.
pub fn decode_usage(input: impl Read, of: Of) -> Result<Vec<(String, Usage)>, serde_json::Error> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, input));
    let mut out = Vec::new();
    ListSeed(&mut out, of).deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// The list object: `items` read item by item, every other member skipped.
struct ListSeed<'a>(&'a mut Vec<(String, Usage)>, Of);

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a metrics list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "items" {
                let (out, of) = (&mut *self.0, self.1);
                // each item reduced to its key and usage as soon as it is read
                map.next_value_seed(EachItem::new(|item: MetricsItem<'de>| {
                    out.push(item.usage(of))
                }))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An item of a metrics list: what the Top pane reads of it. The strings borrow from the text
/// where they can (`Cow`: owned where JSON escapes or a reader force it).
#[derive(Debug, Default, serde::Deserialize)]
struct MetricsItem<'a> {
    #[serde(default, borrow)]
    metadata: MetricsMeta<'a>,
    /// Pods: one usage per container.
    #[serde(default, borrow)]
    containers: Vec<MetricsContainer<'a>>,
    /// Nodes: the node's usage.
    #[serde(default, borrow)]
    usage: Option<UsageText<'a>>,
}

impl MetricsItem<'_> {
    /// Pods: `namespace/name` and the sum of its containers; nodes: the name and its usage.
    fn usage(&self, of: Of) -> (String, Usage) {
        let mut u = Usage::default();
        let key = match of {
            Of::Pods => {
                for c in &self.containers {
                    add_usage(&mut u, c.usage.as_ref());
                }
                format!("{}/{}", self.metadata.namespace, self.metadata.name)
            }
            Of::Nodes => {
                add_usage(&mut u, self.usage.as_ref());
                self.metadata.name.to_string()
            }
        };
        (key, u)
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct MetricsMeta<'a> {
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    namespace: Cow<'a, str>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct MetricsContainer<'a> {
    #[serde(default, borrow)]
    usage: Option<UsageText<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct UsageText<'a> {
    #[serde(default, borrow)]
    cpu: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    memory: Option<Cow<'a, str>>,
}

fn add_usage(u: &mut Usage, usage: Option<&UsageText<'_>>) {
    let cpu = usage.and_then(|v| v.cpu.as_deref());
    let mem = usage.and_then(|v| v.memory.as_deref());
    u.cpu_m += cpu.and_then(quantity::cpu_milli).unwrap_or(0);
    u.mem_b += mem.and_then(quantity::bytes).unwrap_or(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lists_parse_into_usage_without_the_rest() {
        let pods_text = serde_json::json!({
            "kind": "PodMetricsList",
            "metadata": {"resourceVersion": ""},
            "items": [{
                "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
                "timestamp": "2026-11-29T08:00:00Z", "window": "30s",
                "containers": [
                    {"name": "a", "usage": {"cpu": "250m", "memory": "64Mi"}},
                    {"name": "b", "usage": {"cpu": "1", "memory": "1Gi"}}
                ]
            }, {"metadata": {"name": "bare"}}, {"metadata": {"name": "esc\\aped", "namespace": "shop"}}]
        })
        .to_string();

        let nodes_text = serde_json::json!({
            "items": [{"metadata": {"name": "n1"}, "usage": {"cpu": "2", "memory": "2Gi"}}]
        })
        .to_string();

        let broken = metrics_snapshot(("/apis/metrics.k8s.io/v1beta1/pods", "<html>"), ("n", "{}"));
        assert!(
            broken
                .unwrap_err()
                .message
                .starts_with("/apis/metrics.k8s.io/v1beta1/pods: not a metrics list")
        );
        let snap = metrics_snapshot(("pods", &pods_text), ("nodes", &nodes_text)).unwrap();
        // read as it arrives, in small pieces, the same
        let pieces = pods_text
            .as_bytes()
            .chunks(5)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        let streamed = decode_usage(streamed::Chunks::of(pieces), Of::Pods).unwrap();
        assert_eq!(
            streamed
                .into_iter()
                .collect::<crate::model::top::PodUsage>(),
            snap.pods
        );
        assert!(
            snap.pods.contains_key("shop/esc\\aped"),
            "an escaped name is decoded"
        );
        assert_eq!(
            snap.pods.get("shop/web-1"),
            Some(&Usage {
                cpu_m: 1250,
                mem_b: (64 << 20) + (1 << 30)
            })
        );
        assert_eq!(snap.pods.get("/bare"), Some(&Usage::default()));
        assert_eq!(
            snap.nodes.get("n1"),
            Some(&Usage {
                cpu_m: 2000,
                mem_b: 2 << 30
            })
        );
    }
}
