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

/// What to start: etcd members, extra kube-apiserver flags, the audit log, and the control plane
/// (kube-controller-manager, kube-scheduler, hollow nodes).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub members: u32,
    pub extra_args: String,
    /// Every request in `DIR/audit.log` (see `support::audit`).
    pub audit: bool,
    pub control_plane: bool,
    /// Hollow worker nodes (their names).
    pub workers: Vec<String>,
    /// Hollow nodes labelled control-plane/etcd/master and tainted NoSchedule.
    pub cp_nodes: Vec<String>,
}

impl Options {
    /// A control plane with these worker and control-plane nodes.
    pub fn control_plane(workers: &[&str], cp_nodes: &[&str]) -> Options {
        Options {
            members: 1,
            control_plane: true,
            workers: workers.iter().map(|s| s.to_string()).collect(),
            cp_nodes: cp_nodes.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        }
    }
}

fn built(control_plane: bool) -> bool {
    let mut c = Command::new(script());
    c.arg("path");
    if control_plane {
        c.arg("--control-plane");
    }
    c.output().map(|o| o.status.success()).unwrap_or(false)
}

impl RealServer {
    /// Start etcd (`members`) and kube-apiserver with extra flags; `None` = skipped (not built).
    pub fn start(extra_args: &str, members: u32) -> Option<RealServer> {
        RealServer::start_with(&Options {
            members,
            extra_args: extra_args.to_string(),
            ..Options::default()
        })
    }

    /// Start what `opts` asks for; `None` = skipped (not built, outside CI).
    pub fn start_with(opts: &Options) -> Option<RealServer> {
        let has_etcd = super::require_tool("etcd").is_some();
        if !built(opts.control_plane) || !has_etcd {
            let what = if opts.control_plane {
                "the real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubemark)"
            } else {
                "the real kube-apiserver"
            };
            if super::under_ci() {
                panic!(
                    "{what} is required under CI: run scripts/real-apiserver.sh build (and install etcd-server)"
                );
            }
            eprintln!("SKIP: {what} not built (scripts/real-apiserver.sh build)");
            return None;
        }
        let slot = Slot::acquire();
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(script());
        cmd.arg("start")
            .arg(dir.path())
            .args(["--etcd-members", &opts.members.max(1).to_string()])
            .env("KAS_EXTRA_ARGS", &opts.extra_args);
        if opts.audit {
            cmd.arg("--audit");
        }
        if opts.control_plane {
            cmd.arg("--control-plane");
        }
        for w in &opts.workers {
            cmd.args(["--node", w]);
        }
        for n in &opts.cp_nodes {
            cmd.args(["--cp-node", n]);
        }
        let out = cmd.output().unwrap();
        let server = RealServer { dir, _slot: slot };
        assert!(
            out.status.success(),
            "start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(server)
    }

    /// Stop one process of the control plane by its recorded PID: `kube-controller-manager`,
    /// `kube-scheduler` or a node's name.
    pub fn stop_one(&self, name: &str) {
        self.verb(&["stop-one", name]);
    }

    /// Start it again with the same command line.
    pub fn start_one(&self, name: &str) {
        self.verb(&["start-one", name]);
    }

    fn verb(&self, args: &[&str]) {
        let out = Command::new(script())
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run a command inside the tier's network namespace.
    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        Command::new(script())
            .arg("exec")
            .arg(self.dir.path())
            .args(cmd)
            .output()
            .unwrap()
    }

    /// The recorded PID of a process of the tier (`kube-apiserver`, `netns`, `kube-scheduler`, a
    /// node's name …), if it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.pid")))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// The kubeconfig of the user `ktriage-under-test` (system:masters; see `support::audit`).
    pub fn ktriage_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("ktriage.kubeconfig")
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
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
