//! When frames are owed, and the start-up milestones the log records for the end-to-end bench
//! (ms since process start): the first frame (the loading screen), every source synced, and the
//! first complete frame (every source synced and the rules evaluated on it: time to first finding).

use std::time::Duration;

use tokio::time::Instant;

/// Frames are coalesced to at most one per this interval.
pub const FRAME: Duration = Duration::from_millis(33);

/// Whether a frame is owed, and when the last one was drawn.
pub(super) struct Frames {
    pub(super) dirty: bool,
    pub(super) last: Instant,
}

impl Frames {
    pub(super) fn new() -> Frames {
        Frames {
            dirty: true,
            last: Instant::now() - FRAME,
        }
    }

    pub(super) fn due(&self) -> bool {
        self.dirty && Instant::now() >= self.last + FRAME
    }
}

/// The start-up milestones reached so far (each logged once).
#[derive(Default)]
pub(super) struct Milestones {
    drawn: bool,
    synced: bool,
    complete: bool,
}

impl Milestones {
    /// Every source has answered: true the first time (the caller gives the lists' memory back).
    pub(super) fn synced(&mut self, loading: impl FnOnce() -> bool) -> bool {
        if self.synced || loading() {
            return false;
        }
        self.synced = true;
        since_start("all sources synced", None);
        true
    }

    /// A frame was drawn: the first, and the first of the complete picture.
    pub(super) fn drawn(&mut self, findings_stale: bool, findings: usize) {
        if !self.drawn {
            self.drawn = true;
            since_start("first frame drawn", None);
        }
        if !self.complete && self.synced && !findings_stale {
            self.complete = true;
            since_start("first complete frame drawn", Some(findings));
        }
    }
}

fn since_start(what: &str, findings: Option<usize>) {
    if let Some(t0) = crate::logging::PROCESS_START.get() {
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        match findings {
            Some(findings) => tracing::info!(ms, findings, "{what}"),
            None => tracing::info!(ms, "{what}"),
        }
    }
}
