//! Bearer-token users and their rules; real-shaped 403 Forbidden answers.

use serde::{Deserialize, Serialize};

use super::api::{ApiError, qualified};

/// One allow rule (`*` is a wildcard in every list; an empty `namespaces` list means every namespace
/// and the cluster scope).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// A configured user.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Admin users may do anything (including the control channel).
    #[serde(default)]
    pub admin: bool,
}

impl User {
    pub fn token(&self) -> String {
        self.token
            .clone()
            .unwrap_or_else(|| format!("{}-token", self.name))
    }
}

/// What a request wants to do.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    /// plural, with `/sub` for subresources.
    pub resource: String,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == "*" || x == v)
}

/// Whether `user` may do `attrs`.
pub fn allowed(user: &User, attrs: &Attributes<'_>) -> bool {
    if user.admin {
        return true;
    }
    user.rules.iter().any(|r| {
        has(&r.verbs, attrs.verb)
            && has(&r.api_groups, attrs.group)
            && (has(&r.resources, &attrs.resource)
                || attrs
                    .resource
                    .split_once('/')
                    .is_some_and(|(p, _)| r.resources.iter().any(|x| *x == format!("{p}/*"))))
            && (r.namespaces.is_empty() || attrs.namespace.is_some_and(|ns| has(&r.namespaces, ns)))
    })
}

/// The real Forbidden Status for an unauthorised request.
pub fn forbidden(user: &str, attrs: &Attributes<'_>) -> ApiError {
    let base = attrs.resource.split('/').next().unwrap_or("");
    let subject = match attrs.name {
        Some(n) => format!("{} \"{n}\"", qualified(&attrs.resource, attrs.group)),
        None => qualified(&attrs.resource, attrs.group),
    };
    let scope = match attrs.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let msg = format!(
        "{subject} is forbidden: User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
        attrs.verb, attrs.resource, attrs.group
    );
    ApiError::forbidden(msg, attrs.name.unwrap_or(""), attrs.group, base)
}
