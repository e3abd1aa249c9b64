//! `ktriage sim`: serve a scenario until SIGINT/SIGTERM.

use std::path::PathBuf;

use super::{SimError, SimOptions, start};

/// Starts the simulator, writes the admin kubeconfig if asked, prints one ready line and serves
/// until SIGINT or SIGTERM.
pub async fn serve_forever(
    opts: SimOptions,
    write_kubeconfig: Option<PathBuf>,
) -> Result<(), SimError> {
    let scenario = opts.scenario.clone();
    let handle = start(opts).await?;
    let kc = match &write_kubeconfig {
        Some(p) => {
            handle
                .write_kubeconfig(p)
                .map_err(|source| SimError::Kubeconfig {
                    path: p.clone(),
                    source,
                })?;
            p.display().to_string()
        }
        None => "(not written; use --write-kubeconfig FILE)".to_string(),
    };
    let etcd = handle.etcd_endpoints();
    let etcd = if etcd.is_empty() {
        String::new()
    } else {
        format!("; etcd: {}", etcd.join(","))
    };
    println!(
        "ktriage sim: serving scenario {scenario} on {}; kubeconfig: {kc}{etcd}",
        handle.base_url()
    );
    wait_for_signal().await?;
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> Result<(), SimError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(SimError::Signal),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Result<(), SimError> {
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)
}
