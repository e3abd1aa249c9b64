//! The console's flight recorder while it records (`--record`): started from the command line,
//! fed by the loop (messages, evaluations, this console's actions); a write error stops it and the
//! status bar says so.

use chrono::{DateTime, Utc};

use crate::model::Model;

/// The flight recorder, while it records (`--record`): a write error stops it and says so.
#[derive(Default)]
pub(super) struct Recording(pub(super) Option<crate::record::Recorder>, u64);

impl Recording {
    /// `--record FILE`: the recorder, with what the player needs to start as this console did
    /// (not recording, and why in the status bar, when the file cannot be used).
    pub(super) fn start(g: &crate::cli::GlobalArgs, model: &mut Model) -> Recording {
        let Some(path) = g.record.clone() else {
            return Recording::default();
        };
        let header = crate::record::Header {
            version: crate::record::VERSION,
            started_at: model.started_at,
            cluster: model.cluster.clone(),
            tuning: model.tuning,
            etcd: model.etcd.access.clone(),
            ktriage: env!("CARGO_PKG_VERSION").to_string(),
        };
        let max = (g.record_max_mb.max(0.0) * 1024.0 * 1024.0) as u64;
        match crate::record::Recorder::create(&path, header, max) {
            Ok(r) => {
                tracing::info!(path = %path.display(), "recording");
                Recording(Some(r), model.evaluations)
            }
            Err(e) => {
                crate::update::notice_info(
                    model,
                    &format!("cannot record to {}: {e}", path.display()),
                    Utc::now(),
                );
                Recording::default()
            }
        }
    }

    /// After the rules may have run at `now`: an evaluation is recorded with its findings.
    pub(super) fn settled(&mut self, model: &mut Model, now: DateTime<Utc>) {
        if model.evaluations != self.1 {
            self.1 = model.evaluations;
            self.write(model, |r, m| r.settle(now, m));
        }
    }

    pub(super) fn write(
        &mut self,
        model: &mut Model,
        f: impl FnOnce(&mut crate::record::Recorder, &Model) -> std::io::Result<()>,
    ) {
        let Some(r) = self.0.as_mut() else {
            return;
        };
        if let Err(e) = f(r, model) {
            let path = r.path().display().to_string();
            tracing::warn!(%path, error = %e, "recording stopped");
            self.0 = None;
            crate::update::notice_info(
                model,
                &format!("recording {path} stopped: {e}"),
                Utc::now(),
            );
        }
    }

    /// This console's action (its intent when confirmed, its outcome when done).
    pub(super) fn own(
        &mut self,
        model: &mut Model,
        kind: crate::model::timeline::Kind,
        text: String,
        id: Option<String>,
    ) {
        let entry = crate::model::timeline::Entry {
            at: Utc::now(),
            kind,
            text,
            severity: None,
            pane: None,
            key: None,
        };
        self.write(model, |r, _| r.own(entry, id));
    }
}
