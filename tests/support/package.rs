//! Installing ktriage: the release binary and the Debian package `scripts/package-deb` builds from it
//! (`scripts/test` builds both before `cargo test`), tools on PATH, and the CI switch.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// CI is any value of `CI` other than empty, `0` or `false`.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A tool this test needs: found, or `None` after a visible SKIP outside CI (a failure under CI).
pub fn need(name: &str, test: &str) -> Option<PathBuf> {
    match on_path(name) {
        Some(p) => Some(p),
        None if ci() => {
            panic!("{name} not found on PATH under CI ({test}); scripts/test installs it")
        }
        None => {
            eprintln!("SKIP: {name} not found on PATH ({test})");
            None
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Debian package for this version and architecture, as `scripts/package-deb` names it.
pub fn deb_path() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    root()
        .join("target/debian")
        .join(format!("ktriage_{}_{arch}.deb", env!("CARGO_PKG_VERSION")))
}

/// The package, or `None` after a visible SKIP outside CI (a failure under CI, where `scripts/test`
/// builds it before `cargo test`).
pub fn deb_or_skip(test: &str) -> Option<PathBuf> {
    let deb = deb_path();
    if deb.is_file() {
        return Some(deb);
    }
    let msg = format!(
        "{} not built ({test}): scripts/test builds it (scripts/package-deb)",
        deb.display()
    );
    if ci() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}
