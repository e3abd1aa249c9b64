//! Knowing when a watch has resumed. kube-runtime's watcher re-watches from its last resourceVersion
//! after an error and yields nothing until the next change, so a quiet resource would stay marked
//! "unreachable, stale" long after its watch is back. Each watch's requests therefore go through a
//! thin wrapper client that raises a flag when a watch request is answered with a 2xx: the source
//! is live again, with no extra request and no re-list.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::client::Body;
use kube::{Api, Client, Resource};

/// Counts watch requests answered with a 2xx status.
#[derive(Debug, Clone, Default)]
pub struct WatchStarts(Arc<AtomicU64>);

impl WatchStarts {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn is_watch(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

/// The same collection as `api`, through a client that counts answered watch requests.
pub fn observed<K>(api: Api<K>) -> (Api<K>, WatchStarts)
where
    K: Resource,
    K::DynamicType: Default,
{
    let starts = WatchStarts::default();
    let dt = K::DynamicType::default();
    // `Api::all_with` has no scope bound; requests to its collection URL are sent to the original
    // (possibly namespaced) one instead.
    let all_url = K::url_path(&dt, None);
    let url = api.resource_url().to_string();
    let inner: Client = api.into_client();
    let default_ns = inner.default_namespace().to_string();
    let counter = starts.clone();
    let svc = tower::service_fn(move |mut req: http::Request<Body>| {
        let inner = inner.clone();
        let counter = counter.clone();
        let watch = is_watch(req.uri().query());
        if url != all_url {
            let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
            if let Some(rest) = pq.strip_prefix(all_url.as_str())
                && let Ok(uri) = format!("{url}{rest}").parse::<http::Uri>()
            {
                *req.uri_mut() = uri;
            }
        }
        async move {
            let resp = inner.send(req).await?;
            if watch && resp.status().is_success() {
                counter.0.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, kube::Error>(resp)
        }
    });
    (
        Api::all_with(Client::new(svc, default_ns), &dt),
        starts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_watch_requests_count() {
        assert!(is_watch(Some("watch=true&resourceVersion=5")));
        assert!(is_watch(Some("labelSelector=a&watch=1")));
        assert!(!is_watch(Some("limit=500")));
        assert!(!is_watch(Some("watchx=true")));
        assert!(!is_watch(None));
    }
}
