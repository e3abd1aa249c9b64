//! The recorder's writer thread: gzip compression and file IO off the event loop. The loop hands
//! over lines in chunks ([`Sink`]); the thread compresses and writes them, flushes when asked,
//! rotates `FILE` to `FILE.1`, and keeps the first write error for the loop's next call.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::rotated;

/// Counts the compressed bytes written.
pub(super) struct Counted {
    out: BufWriter<File>,
    bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Open `path` to append a gzip member (a file that exists must already be a recording: a gzip
/// member after another is read as one stream).
pub(super) fn create(path: &Path) -> std::io::Result<GzEncoder<Counted>> {
    if let Ok(mut f) = File::open(path) {
        let mut magic = [0u8; 2];
        let n = std::io::Read::read(&mut f, &mut magic)?;
        if n > 0 && magic != [0x1f, 0x8b] {
            return Err(std::io::Error::other(
                "the file exists and is not a ktriage recording (nothing was written to it)",
            ));
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let file = opts.open(path)?;
    let bytes = file.metadata()?.len();
    Ok(GzEncoder::new(
        Counted {
            out: BufWriter::new(file),
            bytes,
        },
        // the loop's messages are compressed as they come: speed over the last percent of size
        Compression::fast(),
    ))
}

/// What the loop asks of the writer thread.
pub(super) enum Cmd {
    Data(Vec<u8>),
    /// Flush to the file; answered when asked with a channel.
    Flush(Option<std::sync::mpsc::SyncSender<std::io::Result<()>>>),
    /// `FILE` to `FILE.1`, a new `FILE`.
    Rotate(std::sync::mpsc::SyncSender<std::io::Result<()>>),
    Finish(std::sync::mpsc::SyncSender<std::io::Result<()>>),
}

/// The loop's end of the writer thread: lines are buffered and handed over in chunks; the thread
/// compresses and writes them. A write error there is kept and returned by the loop's next call.
pub(super) struct Sink {
    tx: std::sync::mpsc::SyncSender<Cmd>,
    buf: Vec<u8>,
    /// Compressed bytes in the current file (the thread counts them).
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// Lines are handed to the writer in chunks of about this many bytes.
const CHUNK: usize = 256 * 1024;

impl Sink {
    pub(super) fn start(path: &Path) -> std::io::Result<Sink> {
        let first = create(path)?;
        let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(first.get_ref().bytes));
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        // at most 16 chunks queued (4 MiB): past that the loop waits for the disk
        let (tx, rx) = std::sync::mpsc::sync_channel::<Cmd>(16);
        let (b, f, path) = (bytes.clone(), failed.clone(), path.to_path_buf());
        std::thread::Builder::new()
            .name("ktriage-recorder".into())
            .spawn(move || writer(first, &path, &rx, &b, &f))?;
        Ok(Sink {
            tx,
            buf: Vec::with_capacity(CHUNK),
            bytes,
            failed,
        })
    }

    fn check(&self) -> std::io::Result<()> {
        match self.failed.lock().ok().and_then(|f| f.clone()) {
            Some(e) => Err(std::io::Error::other(e)),
            None => Ok(()),
        }
    }

    fn send(&self, cmd: Cmd) -> std::io::Result<()> {
        self.tx
            .send(cmd)
            .map_err(|_| std::io::Error::other("the recorder's writer stopped"))
    }

    pub(super) fn write_line(
        &mut self,
        line: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
    ) -> std::io::Result<()> {
        self.check()?;
        line(&mut self.buf)?;
        self.buf.push(b'\n');
        if self.buf.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(Cmd::Data(chunk))?;
        }
        Ok(())
    }

    fn hand_over(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.send(Cmd::Data(chunk))?;
        }
        Ok(())
    }

    /// Hand over what is buffered and ask for a flush; `wait`: until it is on disk.
    pub(super) fn flush(&mut self, wait: bool) -> std::io::Result<()> {
        if !wait {
            self.hand_over()?;
            return self.send(Cmd::Flush(None));
        }
        self.ask(|tx| Cmd::Flush(Some(tx)))?;
        self.check()
    }

    /// Hand over what is buffered, send a command and wait for its answer.
    pub(super) fn ask(
        &mut self,
        cmd: impl FnOnce(std::sync::mpsc::SyncSender<std::io::Result<()>>) -> Cmd,
    ) -> std::io::Result<()> {
        self.hand_over()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(cmd(tx))?;
        rx.recv()
            .map_err(|_| std::io::Error::other("the recorder's writer stopped"))?
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The writer thread: compress and write what the loop hands over, until it finishes or goes.
fn writer(
    mut out: GzEncoder<Counted>,
    path: &Path,
    rx: &std::sync::mpsc::Receiver<Cmd>,
    bytes: &std::sync::atomic::AtomicU64,
    failed: &std::sync::Mutex<Option<String>>,
) {
    let fail = |e: &std::io::Error| {
        if let Ok(mut f) = failed.lock() {
            f.get_or_insert_with(|| e.to_string());
        }
    };
    let count = |out: &GzEncoder<Counted>| {
        bytes.store(out.get_ref().bytes, std::sync::atomic::Ordering::Relaxed);
    };
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::Data(chunk) => {
                if let Err(e) = out.write_all(&chunk) {
                    fail(&e);
                }
            }
            Cmd::Flush(reply) => {
                let r = out.flush();
                count(&out);
                if let Err(e) = &r {
                    fail(e);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            Cmd::Rotate(reply) => {
                let r = rotate_file(&mut out, path);
                count(&out);
                if let Err(e) = &r {
                    fail(e);
                }
                let _ = reply.send(r);
            }
            Cmd::Finish(reply) => {
                let r = out.try_finish().and_then(|()| out.get_mut().flush());
                let _ = reply.send(r);
                return;
            }
        }
        count(&out);
    }
    // the loop went without finishing (a panic): what is buffered is still written
    let _ = out.try_finish();
}

/// `FILE` becomes `FILE.1` (an older one goes) and a new `FILE` starts.
fn rotate_file(out: &mut GzEncoder<Counted>, path: &Path) -> std::io::Result<()> {
    let next = path.with_extension("rotating");
    let _ = std::fs::remove_file(&next);
    let fresh = create(&next)?;
    let mut old = std::mem::replace(out, fresh);
    old.try_finish()?;
    old.get_mut().flush()?;
    std::fs::rename(path, rotated(path))?;
    std::fs::rename(&next, path)
}
