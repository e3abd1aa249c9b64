//! The real kube-apiserver (v1.20.2) and etcd started by `scripts/real-apiserver.sh` for a test,
//! stopped by PID on drop. Missing binary or etcd: a visible skip, a failure under CI (`support::under_ci`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct RealServer {
    pub dir: tempfile::TempDir,
    _slot: Slot,
}

/// At most two real API servers (each with its etcd) at once per test binary, so parallel tests do
/// not starve each other's start-up on 2 cores.
static SLOTS: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

struct Slot;

impl Slot {
    fn acquire() -> Slot {
        let (m, cv) = &SLOTS;
        let mut used = m.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= 2 {
            used = cv.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (m, cv) = &SLOTS;
        let mut used = m.lock().unwrap_or_else(|e| e.into_inner());
        *used = used.saturating_sub(1);
        cv.notify_one();
    }
}

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/real-apiserver.sh")
}

impl RealServer {
    /// Start etcd (`members`) and kube-apiserver with extra flags; `None` = skipped (not built).
    pub fn start(extra_args: &str, members: u32) -> Option<RealServer> {
        let built = Command::new(script())
            .arg("path")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let has_etcd = super::require_tool("etcd").is_some();
        if !built || !has_etcd {
            if super::under_ci() {
                panic!(
                    "the real kube-apiserver is required under CI: run scripts/real-apiserver.sh build (and install etcd-server)"
                );
            }
            eprintln!("SKIP: real kube-apiserver not built (scripts/real-apiserver.sh build)");
            return None;
        }
        let slot = Slot::acquire();
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .args(["--etcd-members", &members.to_string()])
            .env("KAS_EXTRA_ARGS", extra_args)
            .output()
            .unwrap();
        let server = RealServer { dir, _slot: slot };
        assert!(
            out.status.success(),
            "start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(server)
    }

    /// A value from the `env` file the start script writes (KUBECONFIG, JANE_KUBECONFIG, APISERVER,
    /// ETCD_ENDPOINTS).
    pub fn env(&self, key: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("env")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} not in env"))
            .to_string()
    }

    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    pub fn jane_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("jane.kubeconfig")
    }

    /// Split etcd member `i` (1-based) off as an island.
    pub fn split(&self, i: u32) {
        let out = Command::new(script())
            .arg("split")
            .arg(self.dir.path())
            .arg(i.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "split failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// A kube client for a kubeconfig, through ktriage's own resolution.
pub async fn client_from(kubeconfig: &Path) -> kube::Client {
    let setup = ktriage::kube::resolve(Some(kubeconfig), None, None)
        .await
        .unwrap();
    let ktriage::kube::KubeSetup::Ready(t) = setup else {
        panic!("not configured")
    };
    let mut cfg = t.config;
    cfg.default_retry = false;
    kube::Client::try_from(cfg).unwrap()
}
