//! Changes to the cluster as values. The confirm dialog shows `describe()`, `patch()` and the kubectl
//! equivalent; the one `Executor` runs the same value.

use serde_json::{Value, json};

/// A write ktriage can make. Adding one: a variant here, its request in `kube::executor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Scale a Deployment through its `scale` subresource.
    Scale {
        namespace: String,
        name: String,
        replicas: i32,
    },
}

impl Mutation {
    /// One line for the dialog and the journal.
    pub fn describe(&self) -> String {
        match self {
            Mutation::Scale {
                namespace,
                name,
                replicas,
            } => format!("scale deployment {namespace}/{name} to {replicas} replicas"),
        }
    }

    /// The object it changes, as `kind/namespace/name` (the finding key form).
    pub fn object(&self) -> ObjectRef {
        match self {
            Mutation::Scale {
                namespace, name, ..
            } => ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
        }
    }

    /// The exact patch body sent.
    pub fn patch(&self) -> Value {
        match self {
            Mutation::Scale { replicas, .. } => json!({"spec": {"replicas": replicas}}),
        }
    }

    /// What an operator with kubectl would type.
    pub fn kubectl(&self, context: Option<&str>) -> String {
        let ctx = context
            .map(|c| format!(" --context {}", shell_quote(c)))
            .unwrap_or_default();
        match self {
            Mutation::Scale {
                namespace,
                name,
                replicas,
            } => format!(
                "kubectl{ctx} -n {} scale deployment/{} --replicas={replicas}",
                shell_quote(namespace),
                shell_quote(name)
            ),
        }
    }

    /// Stable name for the journal's `mutation.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Mutation::Scale { .. } => "scale",
        }
    }
}

/// The subject of a mutation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_describes_itself() {
        let m = Mutation::Scale {
            namespace: "shop".into(),
            name: "api".into(),
            replicas: 0,
        };
        assert_eq!(m.describe(), "scale deployment shop/api to 0 replicas");
        assert_eq!(m.patch(), json!({"spec": {"replicas": 0}}));
        assert_eq!(
            m.kubectl(Some("prod east")),
            "kubectl --context 'prod east' -n shop scale deployment/api --replicas=0"
        );
    }
}
