//! Pod lists from the API server's watch cache, decoded into rows as they arrive. A list from the
//! cache (`resourceVersion=0`) costs etcd nothing, but the API server answers it whole (it ignores
//! `limit` there): 50,000 full pods in one body. The pods source's client therefore reads a LIST
//! answer as a stream and turns each pod into its row ([`view_row`]) as soon as it is read; the
//! watcher is handed the list without its items, and the rows reach it through [`Listed`]. Neither
//! the answer, nor its pods, nor a text of them is ever held whole: at 50,000 pods that was ~90 MB
//! at once on top of the rows (the slimmed text, then the watcher's decoded list).

use std::io::Read;

use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde::de::{DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;

use super::Listed;
use super::pod_view::PodView;
use super::streamed::{self, EachItem};
use super::top::view_row;
use crate::model::top::PodRow;

/// `client`, with the pods of its pod LIST answers decoded into rows as they arrive and put in
/// `listed`; the answer it returns is the list without its items.
pub fn pod_lists(client: Client, listed: Listed<PodRow>) -> Client {
    let default_ns = client.default_namespace().to_string();
    let svc = tower::service_fn(move |req: http::Request<Body>| {
        let inner = client.clone();
        let listed = listed.clone();
        let list = is_pod_list(&req);
        async move {
            let resp = inner.send(req).await?;
            if !list || !resp.status().is_success() {
                return Ok::<_, kube::Error>(resp);
            }
            let (parts, body) = resp.into_parts();
            let (rest, rows) = decode_body(body).await?;
            listed.put(rows);
            Ok(http::Response::from_parts(parts, Body::from(rest)))
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

/// `body` decoded as it arrives ([`streamed`]): the list without its items, and the items' rows.
async fn decode_body(body: Body) -> Result<(Vec<u8>, Vec<PodRow>), kube::Error> {
    streamed::decode(body.into_data_stream(), decode_list)
        .await?
        .map_err(|e| kube::Error::Service(Box::new(e)))?
        .map_err(kube::Error::SerdeError)
}

/// Decode a `PodList` from `input` one pod at a time: the list written back with `"items": []`,
/// and each pod's row. Only the rows and the pod being read are held.
pub fn decode_list(input: impl Read) -> Result<(Vec<u8>, Vec<PodRow>), serde_json::Error> {
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, input));
    let mut out = Vec::new();
    let mut rows = Vec::new();
    ListSeed {
        out: &mut out,
        rows: &mut rows,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((out, rows))
}

fn write<T: serde::Serialize + ?Sized, E: serde::de::Error>(
    out: &mut Vec<u8>,
    v: &T,
) -> Result<(), E> {
    serde_json::to_writer(out, v).map_err(E::custom)
}

/// The list object: every member but `items` copied as it is, `items` decoded into rows.
struct ListSeed<'a> {
    out: &'a mut Vec<u8>,
    rows: &'a mut Vec<PodRow>,
}

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
        let out = self.out;
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
                let rows = &mut *self.rows;
                // each pod made its row as soon as it is read
                map.next_value_seed(EachItem::new(|pod: PodView| rows.push(view_row(pod))))?;
                out.extend_from_slice(b"[]");
            } else {
                let v = map.next_value::<Value>()?;
                write(out, &v)?;
            }
        }
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::sources::streamed::Chunks;
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

    /// The row a pod gives: decoded whole as Kubernetes' `Pod`, as the watch's `PodView`, and from
    /// a list answer, it is the same row.
    #[test]
    fn a_pod_gives_the_same_row_whole_as_a_view_and_from_a_list() {
        use super::super::top::pod_row;
        let full: Pod = serde_json::from_value(full_pod()).unwrap_or_default();
        let row = pod_row(full);
        let view: PodView = serde_json::from_value(full_pod()).unwrap_or_default();
        assert_eq!(row, view_row(view));
        let list = serde_json::json!({"kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": [full_pod()]});
        let bytes = serde_json::to_vec(&list).unwrap_or_default();
        let (_, rows) = decode_list(&bytes[..]).unwrap_or_default();
        assert_eq!(rows, vec![row.clone()]);
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
    }

    #[test]
    fn a_list_is_decoded_item_by_item_and_keeps_its_metadata() {
        let mut other = full_pod();
        other["metadata"]["name"] = "web-7d9f-fghij".into();
        let list = serde_json::json!({
            "kind": "PodList", "apiVersion": "v1",
            "metadata": {"resourceVersion": "1234", "continue": ""},
            "items": [full_pod(), other]
        });
        let bytes = serde_json::to_vec(&list).unwrap_or_default();
        // fed in small pieces, as a network would
        let pieces = bytes.chunks(7).map(bytes::Bytes::copy_from_slice).collect();
        let (rest, rows) = decode_list(Chunks::of(pieces)).unwrap_or_default();
        // what the watcher gets: the list, without its items
        let v: Value = serde_json::from_slice(&rest).unwrap_or_default();
        assert_eq!(v["metadata"]["resourceVersion"], "1234");
        assert_eq!(v["kind"], "PodList");
        assert_eq!(v["items"], serde_json::json!([]));
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["web-7d9f-abcde", "web-7d9f-fghij"]);
        // an empty list, and garbage, as kube would see them
        let (rest, rows) = decode_list(
            &br#"{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":null}"#[..],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(rows.is_empty());
        let v: Value = serde_json::from_slice(&rest).unwrap_or_default();
        assert_eq!(v["items"], serde_json::json!([]));
        assert!(decode_list(&b"{\"items\": [1, 2"[..]).is_err());
        assert!(decode_list(&b"{\"items\": [{\"metadata\": 7}]}"[..]).is_err());
        assert!(decode_list(&b"<html>"[..]).is_err());
    }

    /// Rows put by the client reach the watcher's consumer between `Init` and `InitDone`; a
    /// further page's rows are added, and `take` empties.
    #[test]
    fn listed_rows_are_taken_once() {
        let listed = Listed::default();
        listed.put(vec![1, 2]);
        listed.put(vec![3]);
        assert_eq!(listed.clone().take(), vec![1, 2, 3]);
        assert!(listed.take().is_empty());
    }
}
