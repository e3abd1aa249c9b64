//! The action journal: JSON lines, mode 0600, two lines per action (intent, then outcome).
//!
//! Each line is written with one `write` on a file opened with `O_APPEND`, then fsynced, so a crash at
//! any point leaves every line whole or absent. A torn last line is skipped with a warning on read.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: PathBuf) -> Journal {
        Journal { path }
    }

    /// `--journal FILE`, else `$XDG_STATE_HOME/ktriage/journal.jsonl`.
    pub fn default_path() -> Option<PathBuf> {
        crate::config::state_dir().map(|d| d.join("journal.jsonl"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one JSON line and fsync it before returning.
    pub fn append(&self, entry: &Value) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut line = serde_json::to_vec(entry).map_err(|e| io(std::io::Error::other(e)))?;
        line.push(b'\n');
        let mut file = open_append(&self.path).map_err(io)?;
        if ends_torn(&file).map_err(io)? {
            // a crash tore the last line: end it, so this entry stays a whole line of its own
            line.insert(0, b'\n');
        }
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(())
    }

    /// Every whole line; torn or unparsable lines are returned as warnings.
    pub fn read(&self) -> Result<(Vec<Value>, Vec<String>), JournalError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(source) => {
                return Err(JournalError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut entries = Vec::new();
        let mut warnings = Vec::new();
        for (i, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(&line) {
                Ok(v) => entries.push(v),
                Err(_) => warnings.push(format!(
                    "journal {}: line {} is incomplete or damaged and was skipped",
                    self.path.display(),
                    i + 1
                )),
            }
        }
        Ok((entries, warnings))
    }

    /// Intent lines with no outcome line: actions interrupted by a crash.
    pub fn unfinished(&self) -> Result<Vec<Value>, JournalError> {
        let (entries, _) = self.read()?;
        let done: std::collections::HashSet<&str> = entries
            .iter()
            .filter(|e| e["phase"] == "outcome")
            .filter_map(|e| e["id"].as_str())
            .collect();
        Ok(entries
            .iter()
            .filter(|e| e["phase"] == "intent")
            .filter(|e| e["id"].as_str().is_some_and(|id| !done.contains(id)))
            .cloned()
            .collect())
    }
}

/// Whether the file's last byte is not a newline (a line torn by a crash).
fn ends_torn(file: &File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut last, len - 1)?;
    }
    #[cfg(not(unix))]
    {
        last[0] = b'\n';
    }
    Ok(last[0] != b'\n')
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_whole_and_private_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("sub/journal.jsonl"));
        j.append(&json!({"phase": "intent", "id": "a"})).unwrap();
        j.append(&json!({"phase": "outcome", "id": "a"})).unwrap();
        j.append(&json!({"phase": "intent", "id": "b"})).unwrap();
        // a crash in the middle of a write
        let mut f = open_append(j.path()).unwrap();
        f.write_all(br#"{"phase":"outc"#).unwrap();
        let (entries, warnings) = j.read().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("line 4"));
        let unfinished = j.unfinished().unwrap();
        assert_eq!(unfinished.len(), 1);
        assert_eq!(unfinished[0]["id"], "b");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(j.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn an_append_after_a_torn_line_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("journal.jsonl"));
        j.append(&json!({"phase": "intent", "id": "a"})).unwrap();
        open_append(j.path())
            .unwrap()
            .write_all(br#"{"phase":"outc"#)
            .unwrap();
        j.append(&json!({"phase": "intent", "id": "b"})).unwrap();
        let (entries, warnings) = j.read().unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[1]["id"], "b");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }
}
