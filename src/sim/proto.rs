//! Request bodies in Kubernetes protobuf (`application/vnd.kubernetes.protobuf`), which kubectl's
//! typed clients send (`kubectl create namespace|configmap|secret|serviceaccount|deployment|service`,
//! `kubectl drain`'s evictions). Only the fields those commands set are decoded, driven by a small
//! schema table; unknown fields are skipped. Answers are always JSON (clients accept it).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::api::ApiError;

#[derive(Clone, Copy)]
enum T {
    Str,
    Int,
    Bool,
    Msg(&'static [F]),
    MapStr,
    MapBytes,
    RepStr,
    RepMsg(&'static [F]),
    IntOrStr,
}

type F = (u32, &'static str, T);

const META: &[F] = &[
    (1, "name", T::Str),
    (2, "generateName", T::Str),
    (3, "namespace", T::Str),
    (11, "labels", T::MapStr),
    (12, "annotations", T::MapStr),
    (14, "finalizers", T::RepStr),
];
const SELECTOR: &[F] = &[(1, "matchLabels", T::MapStr)];
const PORT: &[F] = &[
    (1, "name", T::Str),
    (2, "hostPort", T::Int),
    (3, "containerPort", T::Int),
    (4, "protocol", T::Str),
];
const ENV: &[F] = &[(1, "name", T::Str), (2, "value", T::Str)];
const CONTAINER: &[F] = &[
    (1, "name", T::Str),
    (2, "image", T::Str),
    (3, "command", T::RepStr),
    (4, "args", T::RepStr),
    (5, "workingDir", T::Str),
    (6, "ports", T::RepMsg(PORT)),
    (7, "env", T::RepMsg(ENV)),
    (14, "imagePullPolicy", T::Str),
];
const POD_SPEC: &[F] = &[
    (2, "containers", T::RepMsg(CONTAINER)),
    (3, "restartPolicy", T::Str),
    (7, "nodeSelector", T::MapStr),
    (8, "serviceAccountName", T::Str),
    (10, "nodeName", T::Str),
];
const TEMPLATE: &[F] = &[(1, "metadata", T::Msg(META)), (2, "spec", T::Msg(POD_SPEC))];
const DEPLOY_SPEC: &[F] = &[
    (1, "replicas", T::Int),
    (2, "selector", T::Msg(SELECTOR)),
    (3, "template", T::Msg(TEMPLATE)),
];
const SVC_PORT: &[F] = &[
    (1, "name", T::Str),
    (2, "protocol", T::Str),
    (3, "port", T::Int),
    (4, "targetPort", T::IntOrStr),
    (5, "nodePort", T::Int),
];
const SVC_SPEC: &[F] = &[
    (1, "ports", T::RepMsg(SVC_PORT)),
    (2, "selector", T::MapStr),
    (3, "clusterIP", T::Str),
    (4, "type", T::Str),
];
const NS_SPEC: &[F] = &[(1, "finalizers", T::RepStr)];

fn kind_schema(kind: &str) -> Option<&'static [F]> {
    Some(match kind {
        "Namespace" => &[(1, "metadata", T::Msg(META)), (2, "spec", T::Msg(NS_SPEC))],
        "ConfigMap" => &[
            (1, "metadata", T::Msg(META)),
            (2, "data", T::MapStr),
            (3, "binaryData", T::MapBytes),
            (4, "immutable", T::Bool),
        ],
        "Secret" => &[
            (1, "metadata", T::Msg(META)),
            (2, "data", T::MapBytes),
            (3, "type", T::Str),
            (4, "stringData", T::MapStr),
            (5, "immutable", T::Bool),
        ],
        "ServiceAccount" | "Eviction" => &[(1, "metadata", T::Msg(META))],
        "Deployment" => &[
            (1, "metadata", T::Msg(META)),
            (2, "spec", T::Msg(DEPLOY_SPEC)),
        ],
        "Service" => &[(1, "metadata", T::Msg(META)), (2, "spec", T::Msg(SVC_SPEC))],
        _ => return None,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

fn malformed() -> ApiError {
    ApiError::bad_request("the object provided is unrecognized or malformed: invalid protobuf")
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or_else(malformed)?;
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed())
    }

    fn bytes(&mut self) -> Result<&'a [u8], ApiError> {
        let n = usize::try_from(self.varint()?).map_err(|_| malformed())?;
        let end = self
            .i
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(malformed)?;
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    /// Next (field number, wire type, payload) or None at the end.
    fn next(&mut self) -> Result<Option<(u32, Payload<'a>)>, ApiError> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| malformed())?;
        let p = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            2 => Payload::Bytes(self.bytes()?),
            1 => {
                self.i += 8;
                Payload::Skip
            }
            5 => {
                self.i += 4;
                Payload::Skip
            }
            _ => return Err(malformed()),
        };
        Ok(Some((field, p)))
    }
}

enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skip,
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn map_entry(b: &[u8], as_bytes: bool) -> Result<(String, Value), ApiError> {
    let mut r = Reader { b, i: 0 };
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((f, p)) = r.next()? {
        if let Payload::Bytes(x) = p {
            match f {
                1 => k = String::from_utf8_lossy(x).into_owned(),
                2 if as_bytes => v = json!(base64::engine::general_purpose::STANDARD.encode(x)),
                2 => v = text(x),
                _ => {}
            }
        }
    }
    Ok((k, v))
}

fn message(b: &[u8], schema: &[F]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    let mut r = Reader { b, i: 0 };
    while let Some((field, p)) = r.next()? {
        let Some((_, name, ty)) = schema.iter().find(|(n, _, _)| *n == field) else {
            continue;
        };
        let name = (*name).to_string();
        match (ty, p) {
            // Go's JSON omits empty strings and zero numbers (except explicit replicas).
            (T::Str, Payload::Bytes(x)) if !x.is_empty() => {
                out.insert(name, text(x));
            }
            (T::Int, Payload::Varint(v)) if v != 0 || name == "replicas" => {
                out.insert(name, json!(v as i64));
            }
            (T::Bool, Payload::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (T::Msg(s), Payload::Bytes(x)) => {
                out.insert(name, message(x, s)?);
            }
            (T::MapStr | T::MapBytes, Payload::Bytes(x)) => {
                let (k, v) = map_entry(x, matches!(ty, T::MapBytes))?;
                let m = out.entry(name).or_insert_with(|| json!({}));
                if let Some(m) = m.as_object_mut() {
                    m.insert(k, v);
                }
            }
            (T::RepStr, Payload::Bytes(x)) => push(&mut out, name, text(x)),
            (T::RepMsg(s), Payload::Bytes(x)) => push(&mut out, name, message(x, s)?),
            (T::IntOrStr, Payload::Bytes(x)) => {
                let v = message(
                    x,
                    &[
                        (1, "type", T::Int),
                        (2, "intVal", T::Int),
                        (3, "strVal", T::Str),
                    ],
                )?;
                let val = if v.get("type").and_then(Value::as_i64) == Some(1) {
                    v.get("strVal").cloned().unwrap_or(json!(""))
                } else {
                    v.get("intVal").cloned().unwrap_or(json!(0))
                };
                out.insert(name, val);
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

fn push(out: &mut Map<String, Value>, name: String, v: Value) {
    let a = out.entry(name).or_insert_with(|| json!([]));
    if let Some(a) = a.as_array_mut() {
        a.push(v);
    }
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body.strip_prefix(b"k8s\0").ok_or_else(malformed)?;
    let unknown = message(
        rest,
        &[
            (
                1,
                "typeMeta",
                T::Msg(&[(1, "apiVersion", T::Str), (2, "kind", T::Str)]),
            ),
            (2, "raw", T::Str),
        ],
    )?;
    // `raw` was read as text; re-read it as bytes.
    let mut r = Reader { b: rest, i: 0 };
    let mut raw: &[u8] = &[];
    while let Some((f, p)) = r.next()? {
        if let (2, Payload::Bytes(x)) = (f, p) {
            raw = x;
        }
    }
    let kind = unknown
        .pointer("/typeMeta/kind")
        .and_then(Value::as_str)
        .unwrap_or("");
    let api_version = unknown
        .pointer("/typeMeta/apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let schema = kind_schema(kind).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the simulator decodes protobuf only for Namespace, ConfigMap, Secret, ServiceAccount, Deployment, Service and Eviction, not {kind}; send JSON (e.g. kubectl create -f FILE)"),
        )
    })?;
    let mut v = message(raw, schema)?;
    v["kind"] = json!(kind);
    v["apiVersion"] = json!(api_version);
    if v.get("metadata").is_none() {
        v["metadata"] = json!({});
    }
    Ok(v)
}
