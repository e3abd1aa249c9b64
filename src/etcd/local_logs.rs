//! etcd's own log files on a control-plane node, for when ktriage runs there (the seed's first move:
//! `tail -f /var/log/pods/kube-system_etcd-*/etcd/*.log` on RKE2, `docker logs etcd` on RKE1), with or
//! without a kubeconfig. Files are tailed by offset (a bounded first read, then only new bytes) and
//! fed to the same signature aggregator as the pod log API's lines.
//!
//! Formats: CRI (`2026-11-24T17:19:20.1Z stderr F <line>`, RKE2/k3s/containerd) and Docker's
//! json-file (`{"log":"<line>\n","stream":"stderr","time":"…"}`, RKE1).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::Sender;

use crate::model::etcd::EtcdMsg;
use crate::msg::Msg;

const EVERY: Duration = Duration::from_secs(5);
/// The first read of a file starts this far from its end.
const FIRST: u64 = 256 * 1024;
/// At most this much per file per poll (a split brain writes ~10 KB/s per member).
const MAX_READ: u64 = 1024 * 1024;

/// etcd log files under `root`: RKE2/k3s pod logs and RKE1's Docker container log.
pub fn find(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let pods = root.join("var/log/pods");
    if let Ok(dirs) = std::fs::read_dir(&pods) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().to_string();
            if !name.starts_with("kube-system_etcd-") {
                continue;
            }
            if let Ok(files) = std::fs::read_dir(d.path().join("etcd")) {
                let mut logs: Vec<PathBuf> = files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect();
                logs.sort();
                // the newest restart's file (0.log, 1.log, …)
                if let Some(p) = logs.pop() {
                    let pod = name.split('_').nth(1).unwrap_or(&name).to_string();
                    out.push((format!("node log {pod}"), p));
                }
            }
        }
    }
    let docker = root.join("var/lib/docker/containers");
    if let Ok(dirs) = std::fs::read_dir(&docker) {
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().to_string();
            let config =
                std::fs::read_to_string(d.path().join("config.v2.json")).unwrap_or_default();
            if config.contains("\"Name\":\"/etcd\"") {
                out.push((
                    "node log docker etcd".into(),
                    d.path().join(format!("{id}-json.log")),
                ));
            }
        }
    }
    out.sort();
    out
}

/// One raw line of a CRI or Docker json-file log, as etcd wrote it, behind a Kubernetes-style
/// timestamp so the parser keeps it.
pub fn unwrap_line(line: &str) -> Option<String> {
    if line.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
        && let Some(log) = v.get("log").and_then(|l| l.as_str())
    {
        let ts = v.get("time").and_then(|t| t.as_str()).unwrap_or("");
        return Some(format!("{ts} {}", log.trim_end()).trim_start().to_string());
    }
    // CRI: "<ts> <stream> <F|P> <message>"
    let mut parts = line.splitn(4, ' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(ts), Some("stdout" | "stderr"), Some("F" | "P"), Some(msg)) => {
            Some(format!("{ts} {msg}"))
        }
        _ => Some(line.to_string()).filter(|l| !l.is_empty()),
    }
}

/// New complete lines of `path` since `offset` (updated), at most `MAX_READ` bytes.
pub fn read_new(path: &Path, offset: &mut Option<u64>) -> std::io::Result<Vec<String>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = match *offset {
        Some(o) if o <= len => o,
        // first read, or the file was truncated/rotated
        _ => len.saturating_sub(FIRST),
    };
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.take(MAX_READ).read_to_end(&mut buf)?;
    // keep only complete lines; a first read skips the partial line it started in
    let end = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut text = String::from_utf8_lossy(&buf[..end]).to_string();
    if offset.is_none()
        && start > 0
        && let Some(i) = text.find('\n')
    {
        text = text[i + 1..].to_string();
    }
    *offset = Some(start + end as u64);
    Ok(text.lines().filter_map(unwrap_line).collect())
}

/// Tail every etcd log file under `root`, forever.
pub async fn run(root: PathBuf, tx: Sender<Msg>) {
    let mut offsets: BTreeMap<PathBuf, Option<u64>> = BTreeMap::new();
    loop {
        for (source, path) in find(&root) {
            let offset = offsets.entry(path.clone()).or_insert(None);
            let msg = match read_new(&path, offset) {
                Ok(lines) if lines.is_empty() => continue,
                Ok(lines) => EtcdMsg::Logs { pod: source, lines },
                Err(e) => EtcdMsg::LogsFailed {
                    pod: source,
                    failure: crate::model::Failure {
                        kind: crate::model::FailureKind::Error,
                        message: format!("{}: {e}", path.display()),
                    },
                },
            };
            if tx.send(Msg::Etcd(Box::new(msg))).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_and_docker_lines() {
        assert_eq!(
            unwrap_line(r#"2026-11-24T17:19:20.259464Z stderr F {"level":"warn","msg":"request cluster ID mismatch"}"#)
                .unwrap(),
            r#"2026-11-24T17:19:20.259464Z {"level":"warn","msg":"request cluster ID mismatch"}"#
        );
        let docker = r#"{"log":"2021-05-04 07:50:10.140405 E | rafthttp: request sent was ignored (cluster ID mismatch: remote[fa573fde1c0b9eb9]=ecdd18d533c7bdc3, local=a0b4701215acdc84)\n","stream":"stderr","time":"2021-05-04T07:50:10.140405Z"}"#;
        let l = unwrap_line(docker).unwrap();
        assert!(
            l.starts_with("2021-05-04T07:50:10.140405Z 2021-05-04 07:50:10.140405 E | rafthttp"),
            "{l}"
        );
        let parsed = crate::etcd::logs::parse_line(&l);
        assert_eq!(parsed.level.as_deref(), Some("error"));
    }

    #[test]
    fn finds_rke2_and_rke1_logs_and_tails_by_offset() {
        let root = tempfile::tempdir().unwrap();
        let pod = root
            .path()
            .join("var/log/pods/kube-system_etcd-cp-1_0123/etcd");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(pod.join("0.log"), "old\n").unwrap();
        let log = pod.join("1.log");
        std::fs::write(
            &log,
            "2026-11-24T17:19:20Z stderr F a\n2026-11-24T17:19:21Z stderr P b",
        )
        .unwrap();
        let docker = root.path().join("var/lib/docker/containers/abc");
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(docker.join("config.v2.json"), r#"{"Name":"/etcd"}"#).unwrap();
        let found = find(root.path());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], ("node log etcd-cp-1".to_string(), log.clone()));
        let mut off = None;
        assert_eq!(
            read_new(&log, &mut off).unwrap(),
            vec!["2026-11-24T17:19:20Z a"]
        );
        // the partial line completes; only it is new
        std::fs::write(
            &log,
            "2026-11-24T17:19:20Z stderr F a\n2026-11-24T17:19:21Z stderr F b\n",
        )
        .unwrap();
        assert_eq!(
            read_new(&log, &mut off).unwrap(),
            vec!["2026-11-24T17:19:21Z b"]
        );
        assert!(read_new(&log, &mut off).unwrap().is_empty());
    }
}
