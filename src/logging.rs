//! Logging with `tracing` to a file, never to the terminal the UI owns. Level from `KTRIAGE_LOG`
//! (default `info`). kube-rs and hyper log no credentials at these levels; ktriage logs none.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Open (create, append, 0600) the log file and install the subscriber.
pub fn init(explicit: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match crate::config::state_dir() {
            Some(d) => d.join("ktriage.log"),
            None => return Ok(None),
        },
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    }
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&path)
        .map_err(|e| format!("cannot open log file {}: {e}", path.display()))?;
    let filter = EnvFilter::try_from_env("KTRIAGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .is_ok();
    Ok(installed.then_some(path))
}

/// When the process started (set first thing in `main`), for the first-frame measurement in the log.
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
