//! A pod as the pods watch decodes it: only what the Top rows read (`top::view_row`), in small
//! types. Kubernetes' own `Pod` is large even when empty (a `Container` is ~2 kB of optional
//! fields, and a decoded list reserves room for four per pod): a list of 50,000 pods decoded as
//! `Pod`s took ~430 MB on its way to 50,000 rows of ~600 bytes. Decoded as `PodView`s the same
//! list takes a fraction of it; every field it does not name is skipped by the decoder.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// A pod: its metadata (the watch reads its resourceVersion; the rows its name, namespace, uid and
/// owner) and the parts of its spec and status the rows read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodView {
    pub metadata: ObjectMeta,
    pub spec: Option<ViewSpec>,
    pub status: Option<ViewStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ViewSpec {
    pub node_name: Option<String>,
    /// A boxed slice: the decoder's growth room is given back.
    pub containers: Box<[ViewContainer]>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewContainer {
    pub name: String,
    pub resources: Option<ViewResources>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewResources {
    pub requests: Option<BTreeMap<String, Quantity>>,
    pub limits: Option<BTreeMap<String, Quantity>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ViewStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub conditions: Option<Box<[ViewCondition]>>,
    pub container_statuses: Option<Box<[ViewContainerStatus]>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ViewContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i32,
    pub state: Option<ViewState>,
    pub last_state: Option<ViewState>,
}

/// A container state: only waiting and terminated are read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewState {
    pub waiting: Option<ViewWhy>,
    pub terminated: Option<ViewTerminated>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewWhy {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ViewTerminated {
    pub reason: Option<String>,
    pub exit_code: i32,
    pub message: Option<String>,
}

impl kube::Resource for PodView {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The view of a decoded `Pod` (what the other sources and the tests hold).
impl From<Pod> for PodView {
    fn from(p: Pod) -> PodView {
        let state = |s: Option<k8s_openapi::api::core::v1::ContainerState>| {
            s.map(|s| ViewState {
                waiting: s.waiting.map(|w| ViewWhy {
                    reason: w.reason,
                    message: w.message,
                }),
                terminated: s.terminated.map(|t| ViewTerminated {
                    reason: t.reason,
                    exit_code: t.exit_code,
                    message: t.message,
                }),
            })
        };
        PodView {
            metadata: p.metadata,
            spec: p.spec.map(|s| ViewSpec {
                node_name: s.node_name,
                containers: s
                    .containers
                    .into_iter()
                    .map(|c| ViewContainer {
                        name: c.name,
                        resources: c.resources.map(|r| ViewResources {
                            requests: r.requests,
                            limits: r.limits,
                        }),
                    })
                    .collect(),
            }),
            status: p.status.map(|s| ViewStatus {
                phase: s.phase,
                reason: s.reason,
                conditions: s.conditions.map(|cs| {
                    cs.into_iter()
                        .map(|c| ViewCondition {
                            type_: c.type_,
                            status: c.status,
                            reason: c.reason,
                            message: c.message,
                        })
                        .collect()
                }),
                container_statuses: s.container_statuses.map(|cs| {
                    cs.into_iter()
                        .map(|c| ViewContainerStatus {
                            name: c.name,
                            ready: c.ready,
                            restart_count: c.restart_count,
                            state: state(c.state),
                            last_state: state(c.last_state),
                        })
                        .collect()
                }),
            }),
        }
    }
}
