//! What came of running a mutation: the contract's result, the stage it ended at, the object
//! before and after (the journal's outcome line, CONTRACTS §4).

use serde::Serialize;
use serde_json::Value;

use super::Mutation;

/// The contract's `result` values, plus `refused` (read-only: nothing sent, not journaled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeResult {
    Applied,
    Unverified,
    Rejected,
    Failed,
    Refused,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: String,
    #[serde(skip)]
    pub mutation: Mutation,
    pub result: OutcomeResult,
    /// `read`, `dry-run`, `write`, `verify` or `read-only`.
    pub stage: &'static str,
    pub error: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub side_effects: Vec<String>,
}

impl Outcome {
    /// One line for the status bar.
    pub fn summary(&self) -> String {
        let what = self.mutation.describe();
        let what = match self.tally() {
            Some(t) => format!("{what} [{t}]"),
            None => what,
        };
        match self.result {
            OutcomeResult::Applied => format!("applied and verified: {what}"),
            OutcomeResult::Unverified => format!(
                "UNVERIFIED: {what} was accepted but the re-read does not show it{}",
                self.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
            OutcomeResult::Rejected => format!(
                "REJECTED at {}: {what}: {}",
                self.stage,
                self.error.as_deref().unwrap_or("refused by the server")
            ),
            OutcomeResult::Failed => format!(
                "FAILED at {}: {what}: {}",
                self.stage,
                self.error.as_deref().unwrap_or("unknown error")
            ),
            OutcomeResult::Refused => format!("read-only mode: refused {what}; nothing was sent"),
        }
    }
}

impl Outcome {
    /// A drain's or bulk delete's counts from its report lines (`moved 3, held by a PDB 1, …`).
    pub fn tally(&self) -> Option<String> {
        let count = |p: &str| {
            self.side_effects
                .iter()
                .filter(|l| l.starts_with(p))
                .count()
        };
        let parts: Vec<String> = [
            ("moved ", "moved"),
            ("held by a PodDisruptionBudget", "held by a PDB"),
            ("skipped ", "skipped"),
            ("deleted ", "deleted"),
            ("not evicted", "not evicted"),
            ("not deleted", "not deleted"),
        ]
        .iter()
        .map(|(p, label)| (count(p), label))
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{label} {n}"))
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
