//! The gate: a tower layer in every kube client ktriage builds ([`crate::session::build_client`]).
//! It refuses, before a byte leaves the process and whatever code path made the request:
//! - in every mode, any request for Secrets (the `secrets` resource in any namespace, group or
//!   version, as a get, list or watch): ktriage never reads them, so a role without `secrets` is
//!   enough for every feature and no future source can start reading them by accident;
//! - in read-only mode, every request outside the allow-list: GET/HEAD (get, list, watch, logs)
//!   except `exec`, `attach`, `portforward` and `proxy`; POST of `selfsubjectaccessreviews`,
//!   `selfsubjectrulesreviews` and `selfsubjectreviews`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request};
use tower::{BoxError, Layer, Service};

/// Returned (as the service error) for a refused request.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("read-only mode: refused {method} {path}; nothing was sent")]
pub struct ReadOnlyRefused {
    pub method: String,
    pub path: String,
}

/// Returned (as the service error) for a request for Secrets, in any mode.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("refused {method} {path}: ktriage never reads Secrets; nothing was sent")]
pub struct SecretsRefused {
    pub method: String,
    pub path: String,
}

/// `%XX` escapes decoded (the API server routes on the decoded path).
fn percent_decoded(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True when a request path addresses the Secrets resource: `/api/v1/secrets`,
/// `/api/v1/namespaces/NS/secrets[/NAME[/…]]`, the same under `/apis/GROUP/VERSION/` and under the
/// old `watch/` prefix. An object merely *named* `secrets…` (a pod, a namespace) is not a Secret. A
/// path of another shape is refused when any of its segments is `secrets`.
pub fn names_secrets(path: &str) -> bool {
    let path = percent_decoded(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_secrets = |s: &str| s.eq_ignore_ascii_case("secrets");
    let rest = match segs.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        ["api"] | ["apis"] | ["apis", _] => return false,
        other => return other.iter().any(|s| is_secrets(s)),
    };
    let rest = match rest {
        ["watch", rest @ ..] => rest,
        rest => rest,
    };
    match rest {
        ["namespaces", _ns, resource, ..] => is_secrets(resource),
        [resource, ..] => is_secrets(resource),
        [] => false,
    }
}

/// True when a request may be sent in read-only mode.
pub fn allowed_read_only(method: &Method, path: &str) -> bool {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if *method == Method::GET || *method == Method::HEAD {
        let segments: Vec<&str> = path.split('/').collect();
        // pods/NAME/exec, pods/NAME/attach, pods/NAME/portforward, services/NAME/proxy[/...]
        let dangerous = segments.iter().enumerate().any(|(i, s)| {
            matches!(*s, "exec" | "attach" | "portforward" | "proxy")
                && i >= 2
                && matches!(segments[i - 2], "pods" | "services" | "nodes")
        });
        return !dangerous;
    }
    if *method == Method::POST {
        let reviews = matches!(
            last,
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews" | "selfsubjectreviews"
        );
        let group_ok = path.starts_with("/apis/authorization.k8s.io/")
            || path.starts_with("/apis/authentication.k8s.io/");
        return reviews && group_ok;
    }
    false
}

#[derive(Debug, Clone, Copy)]
pub struct GateLayer {
    pub read_only: bool,
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            read_only: self.read_only,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Gate<S> {
    inner: S,
    read_only: bool,
}

impl<S, B> Service<Request<B>> for Gate<S>
where
    S: Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if names_secrets(req.uri().path()) {
            let refused = SecretsRefused {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
            };
            tracing::warn!(%refused, "gate");
            return Box::pin(async move { Err(BoxError::from(refused)) });
        }
        if self.read_only && !allowed_read_only(req.method(), req.uri().path()) {
            let refused = ReadOnlyRefused {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
            };
            tracing::warn!(%refused, "read-only gate");
            return Box::pin(async move { Err(BoxError::from(refused)) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

/// Whether a kube error is the gate's refusal (read-only, or a request for Secrets).
pub fn is_refusal(err: &kube::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<ReadOnlyRefused>().is_some()
            || e.downcast_ref::<SecretsRefused>().is_some()
        {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_named_in_every_path_shape() {
        for p in [
            "/api/v1/secrets",
            "/api/v1/secrets/",
            "/api/v1/namespaces/kube-system/secrets",
            "/api/v1/namespaces/kube-system/secrets/token-abc",
            "/api/v1/namespaces/kube-system/secrets/token-abc/status",
            "/api/v1/watch/secrets",
            "/api/v1/watch/namespaces/kube-system/secrets",
            "/api/v1/watch/namespaces/kube-system/secrets/x",
            "/apis/example.io/v1/namespaces/a/secrets",
            "/api/v1/namespaces/kube-system/%73ecrets",
            "/api/v1/namespaces/kube-system/Secrets",
            "//api//v1//namespaces//a//secrets",
            "/k8s/clusters/c-m-1/api/v1/namespaces/a/secrets",
            "/proxy/secrets",
        ] {
            assert!(names_secrets(p), "{p}");
        }
        for p in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/secrets.example.io",
            "/apis/secrets.example.io/v1",
            "/version",
            "/api/v1/namespaces",
            "/api/v1/namespaces/secrets",
            "/api/v1/namespaces/secrets/pods",
            "/api/v1/namespaces/kube-system/pods/secrets-store-csi-driver-x7k2p/log",
            "/api/v1/namespaces/kube-system/configmaps/secrets",
            "/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt",
            "/api/v1/serviceaccounts",
        ] {
            assert!(!names_secrets(p), "{p}");
        }
    }

    #[test]
    fn allow_list() {
        let get = Method::GET;
        assert!(allowed_read_only(&get, "/api/v1/namespaces"));
        assert!(allowed_read_only(&get, "/api/v1/namespaces/a/pods/p/log"));
        assert!(allowed_read_only(
            &get,
            "/apis/apps/v1/namespaces/a/deployments/d/scale"
        ));
        assert!(!allowed_read_only(&get, "/api/v1/namespaces/a/pods/p/exec"));
        assert!(!allowed_read_only(
            &get,
            "/api/v1/namespaces/a/pods/p/attach"
        ));
        assert!(!allowed_read_only(
            &get,
            "/api/v1/namespaces/a/pods/p/portforward"
        ));
        assert!(!allowed_read_only(
            &get,
            "/api/v1/namespaces/a/services/s/proxy/x"
        ));
        assert!(!allowed_read_only(&get, "/api/v1/nodes/n/proxy/metrics"));
        // a pod *named* exec is fine
        assert!(allowed_read_only(&get, "/api/v1/namespaces/a/pods/exec"));
        let post = Method::POST;
        assert!(allowed_read_only(
            &post,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        ));
        assert!(allowed_read_only(
            &post,
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
        ));
        assert!(allowed_read_only(
            &post,
            "/apis/authentication.k8s.io/v1/selfsubjectreviews"
        ));
        assert!(!allowed_read_only(
            &post,
            "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        ));
        assert!(!allowed_read_only(&post, "/api/v1/namespaces/a/events"));
        assert!(!allowed_read_only(
            &post,
            "/api/v1/namespaces/a/selfsubjectaccessreviews"
        ));
        for m in [Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS] {
            assert!(!allowed_read_only(&m, "/api/v1/namespaces"), "{m}");
        }
    }
}
