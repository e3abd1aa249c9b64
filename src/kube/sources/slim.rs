//! Pod lists from the API server's watch cache, decoded as they arrive. A list from the cache
//! (`resourceVersion=0`) costs etcd nothing, but the API server answers it whole (it ignores
//! `limit` there): 20,000 full pods in one body. The pods source's client therefore reads a LIST
//! answer as a stream, keeps of each pod only what the Top rows read ([`slim_pod`]), and hands kube
//! a body of slim pods: the full objects never all sit in memory at once.

use std::io::Read;

use bytes::Bytes;
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Chunks of an answer in flight between the network and the decoder.
const IN_FLIGHT: usize = 16;

/// `client`, with the answers of its pod LISTs slimmed as they arrive.
pub fn pod_lists(client: Client) -> Client {
    let default_ns = client.default_namespace().to_string();
    let svc = tower::service_fn(move |req: http::Request<Body>| {
        let inner = client.clone();
        let list = is_pod_list(&req);
        async move {
            let resp = inner.send(req).await?;
            if !list || !resp.status().is_success() {
                return Ok::<_, kube::Error>(resp);
            }
            let (parts, body) = resp.into_parts();
            let slim = slim_body(body).await?;
            Ok(http::Response::from_parts(parts, Body::from(slim)))
        }
    });
    Client::new(svc, default_ns)
}

/// A LIST of pods (all namespaces or one): a GET of the collection that is not a watch.
fn is_pod_list<B>(req: &http::Request<B>) -> bool {
    let watch = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    req.method() == http::Method::GET && req.uri().path().ends_with("/pods") && !watch
}

/// Read `body` chunk by chunk into a decoder on a blocking thread; the slim list it writes.
async fn slim_body(mut body: Body) -> Result<Vec<u8>, kube::Error> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(IN_FLIGHT);
    let decoder = tokio::task::spawn_blocking(move || {
        slim_list(Chunks {
            rx,
            at: Bytes::new(),
        })
    });
    let mut failed = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data()
                    && tx.send(data).await.is_err()
                {
                    break; // the decoder stopped (an error it reports)
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let decoded = decoder
        .await
        .map_err(|e| kube::Error::Service(Box::new(e)))?;
    // the answer's chunks and the decoder's tree are gone: give their pages back
    crate::memory::release_freed();
    if let Some(e) = failed {
        return Err(e);
    }
    decoded.map_err(kube::Error::SerdeError)
}

/// The answer's bytes as `Read`, fed by the network side.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    at: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.at = b,
                None => return Ok(0), // the body ended
            }
        }
        let n = buf.len().min(self.at.len());
        buf[..n].copy_from_slice(&self.at[..n]);
        self.at = self.at.slice(n..);
        Ok(n)
    }
}

/// Decode a `PodList` from `input` one pod at a time and write it back with slim pods as it goes:
/// neither the whole answer nor all its pods are ever held, only the slim list being written.
pub fn slim_list(input: impl Read) -> Result<Vec<u8>, serde_json::Error> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, input));
    let mut out = Vec::new();
    ListSeed(&mut out).deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

fn write<T: serde::Serialize + ?Sized, E: serde::de::Error>(
    out: &mut Vec<u8>,
    v: &T,
) -> Result<(), E> {
    serde_json::to_writer(out, v).map_err(E::custom)
}

/// The list object: every member but `items` copied as it is, `items` slimmed one by one.
struct ListSeed<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of pods")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'{');
        let mut first = true;
        while let Some(key) = map.next_key::<String>()? {
            if !first {
                out.push(b',');
            }
            first = false;
            write(out, &key)?;
            out.push(b':');
            if key == "items" {
                map.next_value_seed(Items(&mut *out))?;
            } else {
                let v = map.next_value::<Value>()?;
                write(out, &v)?;
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// The list's items, each written slim as soon as it is read.
struct Items<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("the list's items")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null"); // `"items": null`
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'[');
        let mut first = true;
        while let Some(pod) = seq.next_element::<Value>()? {
            if !first {
                out.push(b',');
            }
            first = false;
            write(out, &slim_pod(pod))?;
        }
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(serde::de::Error::custom("items is an object, not a list"))
    }
}

/// What `top::pod_row` reads of a pod (and the fields Kubernetes' types require), nothing else.
/// `pod_row` of a pod and of its slim copy are the same (a test holds it).
pub fn slim_pod(pod: Value) -> Value {
    let Value::Object(mut pod) = pod else {
        return pod;
    };
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = pod.remove(k) {
            out.insert(k.into(), v);
        }
    }
    if let Some(meta) = pod.remove("metadata") {
        const META: [&str; 7] = [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "ownerReferences",
            "creationTimestamp",
            "deletionTimestamp",
        ];
        out.insert("metadata".into(), keep(meta, &META));
    }
    if let Some(Value::Object(mut spec)) = pod.remove("spec") {
        let mut s = Map::new();
        if let Some(n) = spec.remove("nodeName") {
            s.insert("nodeName".into(), n);
        }
        let containers = match spec.remove("containers") {
            Some(Value::Array(cs)) => cs
                .into_iter()
                .map(|c| keep(c, &["name", "image", "resources"]))
                .collect(),
            _ => Vec::new(),
        };
        s.insert("containers".into(), Value::Array(containers));
        out.insert("spec".into(), Value::Object(s));
    }
    if let Some(status) = pod.remove("status") {
        const STATUS: [&str; 4] = ["phase", "reason", "conditions", "containerStatuses"];
        out.insert("status".into(), keep(status, &STATUS));
    }
    Value::Object(out)
}

/// `v`'s members named in `keys` (`v` itself when it is not an object).
fn keep(v: Value, keys: &[&str]) -> Value {
    let Value::Object(mut m) = v else { return v };
    let mut out = Map::new();
    for k in keys {
        if let Some(x) = m.remove(*k) {
            out.insert((*k).to_string(), x);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    /// A pod with everything a real one carries around what the rows read.
    fn full_pod() -> Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web-7d9f-abcde", "namespace": "shop", "uid": "u-1", "resourceVersion": "42",
                "creationTimestamp": "2026-12-07T10:00:00Z",
                "labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "rs-1", "controller": true}],
                "managedFields": [{"manager": "kubelet", "operation": "Update", "fieldsV1": {"f:status": {}}}]
            },
            "spec": {
                "nodeName": "node-1", "serviceAccountName": "web",
                "volumes": [{"name": "data", "emptyDir": {}}],
                "containers": [{
                    "name": "web", "image": "shop/web:1.2",
                    "env": [{"name": "A", "value": "b"}], "args": ["--port=80"],
                    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                }, {"name": "sidecar", "image": "proxy:1"}]
            },
            "status": {
                "phase": "Running", "reason": "Evicted", "hostIP": "10.0.0.1", "podIP": "10.1.0.9",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}],
                "containerStatuses": [{
                    "name": "web", "image": "shop/web:1.2", "imageID": "sha256:x", "ready": false, "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "message": "out of memory"}}
                }]
            }
        })
    }

    #[test]
    fn a_slim_pod_gives_the_same_row() {
        use super::super::pod_view::PodView;
        use super::super::top::{pod_row, view_row};
        let full: Pod = serde_json::from_value(full_pod()).unwrap_or_default();
        let slim: Pod = serde_json::from_value(slim_pod(full_pod())).unwrap_or_default();
        let row = pod_row(full);
        assert_eq!(row, pod_row(slim));
        // what the watch decodes: the view of the slim list item, and of a full watch event
        let view: PodView = serde_json::from_value(slim_pod(full_pod())).unwrap_or_default();
        assert_eq!(row, view_row(view));
        let view: PodView = serde_json::from_value(full_pod()).unwrap_or_default();
        assert_eq!(row, view_row(view));
        assert_eq!(
            row.unschedulable.as_deref(),
            Some("Unschedulable: 0/3 nodes")
        );
        assert_eq!(row.containers[1].name, "sidecar");
        assert_eq!(row.containers[0].lim_mem_b, Some(256 << 20));
        assert_eq!(row.containers[0].last_message, "out of memory");
        assert_eq!(row.owner, Some(("ReplicaSet".into(), "web-7d9f".into())));
        assert_eq!(row.containers[0].restarts, 7);
        assert!(row.containers[0].oom_killed);
        let text = serde_json::to_string(&slim_pod(full_pod())).unwrap_or_default();
        for gone in [
            "managedFields",
            "last-applied",
            "volumeMounts",
            "env",
            "podIP",
        ] {
            assert!(!text.contains(gone), "{gone} kept: {text}");
        }
    }

    #[test]
    fn a_list_is_slimmed_item_by_item_and_keeps_its_metadata() {
        let list = serde_json::json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "1234", "continue": ""},
            "items": [full_pod(), full_pod()]
        });
        let bytes = serde_json::to_vec(&list).unwrap_or_default();
        // fed in small pieces, as a network would
        let pieces: Vec<Bytes> = bytes.chunks(7).map(Bytes::copy_from_slice).collect();
        let (tx, rx) = tokio::sync::mpsc::channel(pieces.len());
        for p in pieces {
            let _ = tx.try_send(p);
        }
        drop(tx);
        let out = slim_list(Chunks {
            rx,
            at: Bytes::new(),
        })
        .unwrap_or_default();
        let v: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(v["metadata"]["resourceVersion"], "1234");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["items"][1], slim_pod(full_pod()));
        assert!(out.len() < bytes.len(), "{} of {}", out.len(), bytes.len());
        // an empty list, and garbage, as kube would see them
        let empty = slim_list(
            &br#"{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":null}"#[..],
        );
        assert!(empty.is_ok());
        assert!(slim_list(&b"{\"items\": [1, 2"[..]).is_err());
        assert!(slim_list(&b"<html>"[..]).is_err());
    }
}
