//! Knowing when a watch has resumed. kube-runtime's watcher re-watches from its last resourceVersion
//! after an error and yields nothing until the next change, so a quiet resource would stay marked
//! "unreachable, stale" long after its watch is back. Each watch's requests therefore go through a
//! thin wrapper client that raises a flag when a watch request is answered with a 2xx: the source
//! is live again, with no extra request and no re-list.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    (Api::all_with(Client::new(svc, default_ns), &dt), starts)
}

/// The watchers' backoff: 0.8 s doubling to 30 s, each delay jittered down by up to 20 %.
///
/// kube-runtime's default resets on every `Ok` item, and a watcher yields `Init` (an `Ok`) before
/// each list attempt, so a list failing with 5xx was retried every ~0.8 s forever. This one ignores
/// those resets and starts over only after 120 s without an error.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
    last_error: Option<Instant>,
}

pub const WATCH_BACKOFF_START: Duration = Duration::from_millis(800);
pub const WATCH_BACKOFF_CAP: Duration = Duration::from_secs(30);
const QUIET_RESET: Duration = Duration::from_secs(120);

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff {
            next: WATCH_BACKOFF_START,
            last_error: None,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = Instant::now();
        if self
            .last_error
            .is_some_and(|t| now.duration_since(t) > QUIET_RESET)
        {
            self.next = WATCH_BACKOFF_START;
        }
        self.last_error = Some(now);
        let base = self.next;
        self.next = self.next.saturating_mul(2).min(WATCH_BACKOFF_CAP);
        Some(base.mul_f64(1.0 - fastrand::f64() * 0.2))
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    /// Ignored: see the type's documentation.
    fn reset(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_ignores_resets() {
        use kube::runtime::utils::Backoff;
        let mut b = WatchBackoff::default();
        let mut seen = Vec::new();
        for _ in 0..10 {
            b.reset();
            seen.push(b.next().unwrap_or_default());
        }
        assert!(seen[0] >= Duration::from_millis(640) && seen[0] <= WATCH_BACKOFF_START);
        assert!(seen[3] >= Duration::from_millis(5120), "{seen:?}");
        assert!(seen.iter().all(|d| *d <= WATCH_BACKOFF_CAP), "{seen:?}");
        assert!(seen[9] >= Duration::from_secs(24), "{seen:?}");
        // jitter: ten delays at the cap are not all equal
        let caps: Vec<Duration> = (0..10).map(|_| b.next().unwrap_or_default()).collect();
        assert!(caps.windows(2).any(|w| w[0] != w[1]), "{caps:?}");
    }

    #[test]
    fn only_watch_requests_count() {
        assert!(is_watch(Some("watch=true&resourceVersion=5")));
        assert!(is_watch(Some("labelSelector=a&watch=1")));
        assert!(!is_watch(Some("limit=500")));
        assert!(!is_watch(Some("watchx=true")));
        assert!(!is_watch(None));
    }
}
