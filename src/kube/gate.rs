//! The read-only gate: a tower layer in the kube client stack. In read-only mode it refuses every
//! request outside the allow-list before a byte leaves the process, whatever code path made it.
//!
//! Allow-list: GET/HEAD (get, list, watch, logs) except `exec`, `attach`, `portforward` and `proxy`;
//! POST of `selfsubjectaccessreviews`, `selfsubjectrulesreviews` and `selfsubjectreviews`.

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

/// Whether a kube error is the gate's refusal.
pub fn is_refusal(err: &kube::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<ReadOnlyRefused>().is_some() {
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
