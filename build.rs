//! Build facts for `ktriage --version`: the git commit the binary is built from and the Kubernetes API
//! version of the k8s-openapi types it is built against.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=KTRIAGE_GIT_COMMIT");
    println!("cargo::rustc-env=KTRIAGE_GIT_COMMIT={}", commit());
    println!("cargo::rustc-env=KTRIAGE_K8S_API={}", kubernetes_api());
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// KTRIAGE_GIT_COMMIT (a build from a tarball), else HEAD of the checkout (rebuilt when HEAD or the
/// branch it points at moves), else the commit `cargo package` recorded, else `unknown`.
fn commit() -> String {
    if let Ok(c) = std::env::var("KTRIAGE_GIT_COMMIT")
        && !c.trim().is_empty()
    {
        return c.trim().to_string();
    }
    if let Some(c) = git(&["rev-parse", "--short=12", "HEAD"]) {
        watch_head();
        return c;
    }
    let vcs = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cargo_vcs_info.json");
    if let Ok(text) = std::fs::read_to_string(vcs)
        && let Some(i) = text.find("\"sha1\"")
    {
        let hex: String = text[i + 6..]
            .chars()
            .skip_while(|c| !c.is_ascii_hexdigit())
            .take_while(char::is_ascii_hexdigit)
            .take(12)
            .collect();
        if hex.len() == 12 {
            return hex;
        }
    }
    "unknown".into()
}

/// Reruns this script when HEAD moves: HEAD itself, the branch file it names, packed refs.
fn watch_head() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
    ) else {
        return;
    };
    let mut paths = vec![PathBuf::from(&git_dir).join("HEAD")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(PathBuf::from(&common).join(branch));
    }
    paths.push(PathBuf::from(&common).join("packed-refs"));
    // a path that does not exist would rerun the script (and rebuild the crate) on every build
    for p in paths.iter().filter(|p| p.exists()) {
        println!("cargo::rerun-if-changed={}", p.display());
    }
}

/// `1.33` from k8s-openapi's build metadata (`DEP_K8S_OPENAPI_<version>_VERSION`: 0x00MMmm00).
fn kubernetes_api() -> String {
    std::env::vars()
        .find(|(k, _)| k.starts_with("DEP_K8S_OPENAPI_") && k.ends_with("_VERSION"))
        .and_then(|(_, v)| v.parse::<u32>().ok())
        .map(|v| format!("{}.{}", (v >> 16) & 0xff, (v >> 8) & 0xff))
        .unwrap_or_else(|| "unknown".into())
}
