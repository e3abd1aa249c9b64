//! A fixed kubectl as an independent client: `$KTRIAGE_KUBECTL`, else `kubectl.1.32` beside the
//! real path of `kubectl` (the machine's kubectl is a version dispatcher), else `kubectl` on PATH.
//! Each instance has its own HOME and `--cache-dir`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ktriage::sim::SimHandle;

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds the kubectl to use.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KTRIAGE_KUBECTL").map(PathBuf::from)
        && p.is_file()
    {
        return Some(p);
    }
    let k = on_path("kubectl")?;
    let real = std::fs::canonicalize(&k).unwrap_or_else(|_| k.clone());
    let fixed = real.parent().map(|d| d.join("kubectl.1.32"));
    match fixed {
        Some(f) if f.is_file() => Some(f),
        _ => Some(k),
    }
}

/// The kubectl to use, or `None` after printing a visible SKIP (a failure under CI, see
/// [`super::under_ci`]).
pub fn kubectl_or_skip(test: &str) -> Option<PathBuf> {
    match find() {
        Some(p) => Some(p),
        None if super::under_ci() => {
            panic!("kubectl not found under CI (set KTRIAGE_KUBECTL or install kubectl)")
        }
        None => {
            eprintln!("SKIP: kubectl not found ({test})");
            None
        }
    }
}

/// Output of one kubectl run.
#[derive(Debug)]
pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// kubectl bound to one simulator, with its own HOME and cache directory.
pub struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(bin: PathBuf, h: &SimHandle, user: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        h.write_kubeconfig_for(&kubeconfig, user).unwrap();
        Kubectl {
            bin,
            dir,
            kubeconfig,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args);
        c
    }

    pub fn path(&self) -> &Path {
        &self.bin
    }

    /// Runs kubectl to completion (on a blocking thread), optionally feeding stdin.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        complete(self.command(args), stdin).await
    }

    /// Runs a shell script in which `kubectl` is this kubectl (a wrapper first on PATH), as an
    /// operator pastes a command from a guide.
    pub async fn shell(&self, script: &str) -> Out {
        let bin_dir = self.dir.path().join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let wrapper = bin_dir.join("kubectl");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec '{}' --cache-dir '{}' \"$@\"\n",
                self.bin.display(),
                self.dir.path().join("cache").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("sh");
        cmd.env("HOME", self.dir.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", path)
            .arg("-c")
            .arg(script);
        complete(cmd, None).await
    }

    /// Runs and asserts success; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, None).await;
        assert!(o.ok, "kubectl {args:?} failed: {}", o.stderr);
        o.stdout
    }

    /// Starts a long-running kubectl (e.g. `get --watch`); its stdout lines arrive on the channel.
    pub fn spawn_lines(&self, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl spawns");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }
}

/// Runs `cmd` to completion on a blocking thread, optionally feeding stdin.
async fn complete(mut cmd: Command, stdin: Option<&str>) -> Out {
    let input = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl spawns");
        if let Some(i) = input {
            child.stdin.take().unwrap().write_all(i.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// Waits (blocking thread) for a line containing `needle`, up to `secs`.
pub async fn wait_line(
    rx: mpsc::Receiver<String>,
    needle: &str,
    secs: u64,
) -> (Option<String>, mpsc::Receiver<String>) {
    let needle = needle.to_string();
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(&needle) => return (Some(l), rx),
                Ok(_) => continue,
                Err(_) => return (None, rx),
            }
        }
    })
    .await
    .unwrap()
}
