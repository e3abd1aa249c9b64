//! The pace of the rules: after an evaluation that cost `c`, the next waits `c × RULES_PACE`, so
//! the rules take a bounded share of a core however large and busy the cluster.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::Recording;
use crate::derived::Derived;
use crate::model::Model;
use crate::update::settle_in;

/// After an evaluation of the rules that cost `c`, the next waits `c × RULES_PACE` (at most
/// [`RULES_MAX_GAP`]): the rules then take at most 1/RULES_PACE of a core however large the cluster
/// and however fast it changes (at 50,000 pods changing 100 times a second: one ~28 ms evaluation a
/// second, ~3 % of a core). Tables are not paced: a change is drawn in the next frame; only the
/// findings follow later (≤ 1 s at 50,000 pods; at once on a small cluster, where `c` < 1 ms).
const RULES_PACE: u32 = 40;
const RULES_MAX_GAP: Duration = Duration::from_secs(1);

/// When the rules may run again (see [`RULES_PACE`]).
pub(super) struct Pace {
    pub(super) next: Instant,
    pub(super) pending: bool,
}

impl Pace {
    /// Settle now if the pace allows, else remember to.
    pub(super) fn settle_or_defer(
        &mut self,
        model: &mut Model,
        derived: &mut Derived,
        rec: &mut Recording,
    ) {
        if Instant::now() >= self.next {
            self.settle(model, derived, rec);
        } else {
            self.pending = true;
        }
    }

    /// The rules, when data changed; the recorder notes the evaluation with its findings.
    pub(super) fn settle(&mut self, model: &mut Model, derived: &mut Derived, rec: &mut Recording) {
        let t = Instant::now();
        let now = Utc::now();
        settle_in(model, derived, now);
        rec.settled(model, now);
        let cost = t.elapsed();
        self.next = Instant::now() + (cost * RULES_PACE).min(RULES_MAX_GAP);
        self.pending = false;
    }
}
