//! The resource registry: one table of every served resource, plus custom resources registered
//! from `CustomResourceDefinition` objects. Discovery documents are generated from it.

use serde_json::{Value, json};

/// One served resource (group/version/plural).
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub subresources: Vec<String>,
    pub categories: Vec<String>,
    /// Only get/list (metrics).
    pub read_only: bool,
    /// events.k8s.io/v1 events are a view of the core/v1 events store.
    pub events_view: bool,
}

impl ResourceDef {
    /// The storage key: `group/plural`.
    pub fn key(&self) -> String {
        if self.events_view {
            return "/events".to_string();
        }
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_version(&self) -> String {
        self.api_version()
    }
}

const STD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

// group, version, plural, kind, namespaced, shortNames, subresources, categories
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static str,
    &'static str,
    &'static str,
);

#[rustfmt::skip]
const BUILTIN: &[Row] = &[
    ("", "v1", "namespaces", "Namespace", false, "ns", "status,finalize", ""),
    ("", "v1", "nodes", "Node", false, "no", "status", ""),
    ("", "v1", "pods", "Pod", true, "po", "status,log,eviction", "all"),
    ("", "v1", "services", "Service", true, "svc", "status", "all"),
    ("", "v1", "endpoints", "Endpoints", true, "ep", "", ""),
    ("", "v1", "events", "Event", true, "ev", "", ""),
    ("", "v1", "configmaps", "ConfigMap", true, "cm", "", ""),
    ("", "v1", "secrets", "Secret", true, "", "", ""),
    ("", "v1", "serviceaccounts", "ServiceAccount", true, "sa", "", ""),
    ("apps", "v1", "deployments", "Deployment", true, "deploy", "status,scale", "all"),
    ("apps", "v1", "replicasets", "ReplicaSet", true, "rs", "status,scale", "all"),
    ("apps", "v1", "daemonsets", "DaemonSet", true, "ds", "status", "all"),
    ("apps", "v1", "statefulsets", "StatefulSet", true, "sts", "status,scale", "all"),
    ("events.k8s.io", "v1", "events", "Event", true, "ev", "", ""),
    ("coordination.k8s.io", "v1", "leases", "Lease", true, "", "", ""),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, "pdb", "status", ""),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false, "", "", "api-extensions"),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false, "", "", "api-extensions"),
    ("apiregistration.k8s.io", "v1", "apiservices", "APIService", false, "", "status", "api-extensions"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, "crd,crds", "status", "api-extensions"),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, "", "", ""),
    ("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", true, "", "", ""),
    ("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", false, "", "", ""),
];

/// The group served by the aggregated metrics-server (only while its APIService is available).
pub const METRICS_GROUP: &str = "metrics.k8s.io";

/// All served resources.
#[derive(Debug, Clone)]
pub struct Registry {
    pub defs: Vec<ResourceDef>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        let defs = BUILTIN
            .iter()
            .map(|(g, v, p, k, ns, sn, sub, cat)| ResourceDef {
                group: g.to_string(),
                version: v.to_string(),
                plural: p.to_string(),
                singular: k.to_lowercase(),
                kind: k.to_string(),
                namespaced: *ns,
                short_names: split_list(sn),
                subresources: split_list(sub),
                categories: split_list(cat),
                read_only: *g == METRICS_GROUP,
                events_view: *g == "events.k8s.io",
            })
            .collect();
        Registry { defs }
    }

    /// Finds a resource by group, version and plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// Finds by `apiVersion` and `kind` (as in an object).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceDef> {
        let (group, version) = split_api_version(api_version);
        self.defs
            .iter()
            .find(|d| d.group == group && d.version == version && d.kind == kind)
            .or_else(|| {
                self.defs
                    .iter()
                    .find(|d| d.group == group && d.kind == kind && d.group != METRICS_GROUP)
            })
    }

    /// Registers (or replaces) the resources a CustomResourceDefinition object declares.
    pub fn register_crd(&mut self, crd: &Value) -> Option<ResourceDef> {
        let spec = crd.get("spec")?;
        let group = spec.get("group")?.as_str()?.to_string();
        let names = spec.get("names")?;
        let plural = names.get("plural")?.as_str()?.to_string();
        let kind = names.get("kind")?.as_str()?.to_string();
        let singular = names
            .get("singular")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| kind.to_lowercase());
        let short_names = str_list(names.get("shortNames"));
        let categories = str_list(names.get("categories"));
        let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
        let versions = spec.get("versions").and_then(Value::as_array)?;
        let version = versions
            .iter()
            .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .or_else(|| versions.first())?
            .get("name")?
            .as_str()?
            .to_string();
        let has_status = versions
            .iter()
            .any(|v| v.pointer("/subresources/status").is_some());
        let def = ResourceDef {
            group,
            version,
            plural,
            singular,
            kind,
            namespaced,
            short_names,
            subresources: if has_status {
                vec!["status".into()]
            } else {
                vec![]
            },
            categories,
            read_only: false,
            events_view: false,
        };
        self.defs
            .retain(|d| !(d.group == def.group && d.plural == def.plural));
        self.defs.push(def.clone());
        Some(def)
    }

    /// Removes the resources of a deleted CRD.
    pub fn unregister_crd(&mut self, crd: &Value) {
        let group = crd.pointer("/spec/group").and_then(Value::as_str);
        let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str);
        if let (Some(g), Some(p)) = (group, plural) {
            self.defs.retain(|d| !(d.group == g && d.plural == p));
        }
    }

    /// Group names in discovery order (core excluded).
    pub fn groups(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for d in &self.defs {
            if d.group.is_empty() {
                continue;
            }
            if !out.iter().any(|(g, _)| *g == d.group) {
                out.push((d.group.clone(), d.version.clone()));
            }
        }
        out
    }

    /// The APIResourceList of one group version.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let defs: Vec<&ResourceDef> = self
            .defs
            .iter()
            .filter(|d| d.group == group && d.version == version)
            .collect();
        if defs.is_empty() {
            return None;
        }
        let mut resources = Vec::new();
        for d in defs {
            let verbs: Vec<&str> = if d.group == "authorization.k8s.io" {
                vec!["create"]
            } else if d.read_only {
                vec!["get", "list"]
            } else {
                STD_VERBS.to_vec()
            };
            let mut r = json!({
                "name": d.plural,
                "singularName": d.singular,
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": verbs,
            });
            if !d.short_names.is_empty() {
                r["shortNames"] = json!(d.short_names);
            }
            if !d.categories.is_empty() {
                r["categories"] = json!(d.categories);
            }
            resources.push(r);
            for sub in &d.subresources {
                let (kind, grp, ver, verbs): (&str, &str, &str, Vec<&str>) = match sub.as_str() {
                    "scale" => ("Scale", "autoscaling", "v1", vec!["get", "patch", "update"]),
                    "finalize" => (d.kind.as_str(), "", "", vec!["update"]),
                    "log" => ("Pod", "", "", vec!["get"]),
                    "eviction" => ("Eviction", "policy", "v1", vec!["create"]),
                    _ => (d.kind.as_str(), "", "", vec!["get", "patch", "update"]),
                };
                let mut s = json!({
                    "name": format!("{}/{}", d.plural, sub),
                    "singularName": "",
                    "namespaced": d.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                });
                if !grp.is_empty() {
                    s["group"] = json!(grp);
                    s["version"] = json!(ver);
                }
                resources.push(s);
            }
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }))
    }
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(av: &str) -> (&str, &str) {
    match av.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

/// The `/api` document.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

/// One entry of `/apis`.
pub fn api_group(group: &str, version: &str) -> Value {
    let gv = format!("{group}/{version}");
    json!({
        "name": group,
        "versions": [{"groupVersion": gv, "version": version}],
        "preferredVersion": {"groupVersion": gv, "version": version},
    })
}
