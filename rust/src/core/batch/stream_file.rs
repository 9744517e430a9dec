//! Whole files sealed and opened in the core, path to path: runs of segments
//! read into reused buffers, sealed or opened (`stream::seal_run` and
//! `open_run`), and handed to a writer thread, so that reading and the cipher
//! on one core overlap with writing on the other. A few runs are in flight at
//! a time, so memory stays small whatever the file's size.
//!
//! A job goes a step at a time (`step`), which lets the caller check for
//! interruptions between steps. A job that fails, or is dropped before
//! `finish`, removes the file it was writing (when it is a regular file).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use zeroize::Zeroizing;

use crate::core::error::{Error, Result};
use crate::core::format::TAG_LEN;
use crate::core::seal::stream::SegmentKey;

use super::stream::{open_run, opened_len, seal_run, sealed_len};

/// Output buffers: one being filled, the others queued or being written.
const BUFFERS: usize = 3;

/// A buffer of plaintext (an input run when sealing, an output run when
/// opening): every buffer is wiped when dropped.
type Buffer = Zeroizing<Vec<u8>>;

/// Runs per step (between two checks for an interruption).
const RUNS_PER_STEP: usize = 8;

/// An I/O error on `path`, with the operating system's code.
fn io_error(path: &Path, err: &io::Error) -> Error {
    let text = err.to_string();
    // Python's OSError adds the code itself.
    let message = match text.find(" (os error ") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_owned(),
        None => text,
    };
    Error::Io {
        code: err.raw_os_error(),
        message,
        path: path.display().to_string(),
    }
}

/// Fill `buf` from `src`; fewer bytes only at the end of the file.
fn read_full(src: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match src.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Whether `dst` names the file `src` is open on (a hard link too): creating
/// it would truncate the input.
#[cfg(unix)]
fn same_file(src: &File, dst: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (src.metadata(), std::fs::metadata(dst)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, _: &Path) -> bool {
    false
}

/// Sealing plaintext, or opening sealed segments.
#[derive(Clone, Copy)]
pub enum Direction {
    Seal,
    Open,
}

/// The thread that writes the output, and the channels to it.
struct Writer {
    full: SyncSender<Buffer>,
    empty: Receiver<Buffer>,
    thread: JoinHandle<io::Result<()>>,
}

impl Writer {
    fn start(mut dst: File) -> Self {
        let (full, queued) = mpsc::sync_channel::<Buffer>(BUFFERS);
        let (give_back, empty) = mpsc::sync_channel::<Buffer>(BUFFERS);
        let thread = std::thread::spawn(move || -> io::Result<()> {
            for buf in queued {
                dst.write_all(&buf)?;
                // The job may be gone (failed): the buffer is then dropped here.
                let _ = give_back.send(buf);
            }
            dst.flush()
        });
        Writer {
            full,
            empty,
            thread,
        }
    }

    /// Wait for the writes queued so far.
    fn join(self) -> io::Result<()> {
        drop(self.full);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread failed")))
    }
}

/// Sealing or opening one file into another (see the module's documentation).
pub struct FileJob<'k> {
    key: &'k SegmentKey,
    direction: Direction,
    src: File,
    src_path: PathBuf,
    dst_path: PathBuf,
    /// Whether `dst_path` is removed on failure (a regular file).
    remove: bool,
    writer: Option<Writer>,
    /// Output buffers made so far (at most `BUFFERS`).
    made: usize,
    per_run: usize,
    /// The input bytes of a run (`per_run` segments, sealed or not).
    run_len: usize,
    index: u64,
    /// The run read and not yet processed, and the one after it (read to know
    /// whether this one is the file's last).
    pending: Buffer,
    pending_len: usize,
    next: Buffer,
    done: bool,
}

impl<'k> FileJob<'k> {
    /// Seal (or open) the file at `src` into `dst` (created or truncated),
    /// `per_run` segments at a time. `header` is the file's header, the one
    /// `key` was made (or opened) with: sealing writes it first, opening checks
    /// that the file starts with it.
    pub fn new(
        key: &'k SegmentKey,
        direction: Direction,
        header: &[u8],
        src: &Path,
        dst: &Path,
        per_run: usize,
    ) -> Result<Self> {
        let mut input = File::open(src).map_err(|e| io_error(src, &e))?;
        let header = match direction {
            Direction::Seal => header,
            Direction::Open => {
                let mut found = vec![0u8; header.len()];
                let got = read_full(&mut input, &mut found).map_err(|e| io_error(src, &e))?;
                if got != header.len() || found != header {
                    return Err(Error::Decrypt);
                }
                &[]
            }
        };
        Self::start(key, direction, input, src, dst, header, per_run)
    }

    fn start(
        key: &'k SegmentKey,
        direction: Direction,
        mut src: File,
        src_path: &Path,
        dst_path: &Path,
        header: &[u8],
        per_run: usize,
    ) -> Result<Self> {
        let seg = key.segment_size();
        let run_len = per_run
            .checked_mul(match direction {
                Direction::Seal => seg,
                Direction::Open => seg + TAG_LEN,
            })
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::Invalid("runs must hold 1 segment or more".into()))?;
        let mut pending = Buffer::new(vec![0u8; run_len]);
        let pending_len = read_full(&mut src, &mut pending).map_err(|e| io_error(src_path, &e))?;
        if same_file(&src, dst_path) {
            return Err(Error::Invalid(
                "the input and the output are the same file".into(),
            ));
        }
        let mut dst = File::create(dst_path).map_err(|e| io_error(dst_path, &e))?;
        let remove = dst.metadata().is_ok_and(|m| m.is_file());
        let mut job = FileJob {
            key,
            direction,
            src,
            src_path: src_path.to_owned(),
            dst_path: dst_path.to_owned(),
            remove,
            writer: None,
            made: 0,
            per_run,
            run_len,
            index: 0,
            pending,
            pending_len,
            next: Buffer::new(vec![0u8; run_len]),
            done: false,
        };
        // From here on a failure removes `dst` (the job is dropped).
        dst.write_all(header).map_err(|e| io_error(dst_path, &e))?;
        job.writer = Some(Writer::start(dst));
        Ok(job)
    }

    /// Process a few runs; whether more remain (then call it again, else `finish`).
    pub fn step(&mut self) -> Result<bool> {
        for _ in 0..RUNS_PER_STEP {
            if self.done {
                break;
            }
            self.one_run()?;
        }
        Ok(!self.done)
    }

    fn one_run(&mut self) -> Result<()> {
        let next_len = if self.pending_len == self.run_len {
            read_full(&mut self.src, &mut self.next).map_err(|e| io_error(&self.src_path, &e))?
        } else {
            0
        };
        let last = next_len == 0;
        let mut out = self.buffer()?;
        let input = self
            .pending
            .get(..self.pending_len)
            .ok_or(Error::Internal("run length"))?;
        let len = match self.direction {
            Direction::Seal => sealed_len(self.key, input.len(), last)?,
            Direction::Open => opened_len(self.key, input.len(), last)?,
        };
        out.resize(len, 0);
        match self.direction {
            Direction::Seal => seal_run(self.key, self.index, input, last, &mut out)?,
            Direction::Open => open_run(self.key, self.index, input, last, &mut out)?,
        }
        self.send(out)?;
        if last {
            self.done = true;
        } else {
            self.index = u64::try_from(self.per_run)
                .ok()
                .and_then(|n| self.index.checked_add(n))
                .ok_or_else(|| Error::Invalid("segment index overflow".into()))?;
            std::mem::swap(&mut self.pending, &mut self.next);
            self.pending_len = next_len;
        }
        Ok(())
    }

    /// An output buffer: a new one while fewer than `BUFFERS` exist, else one
    /// the writer is done with.
    fn buffer(&mut self) -> Result<Buffer> {
        let writer = self.writer.as_ref().ok_or(Error::Internal("no writer"))?;
        if let Ok(buf) = writer.empty.try_recv() {
            return Ok(buf);
        }
        if self.made < BUFFERS {
            self.made += 1;
            return Ok(Buffer::default());
        }
        match writer.empty.recv() {
            Ok(buf) => Ok(buf),
            Err(_) => Err(self.writer_failed()),
        }
    }

    fn send(&mut self, buf: Buffer) -> Result<()> {
        let writer = self.writer.as_ref().ok_or(Error::Internal("no writer"))?;
        if writer.full.send(buf).is_err() {
            return Err(self.writer_failed());
        }
        Ok(())
    }

    /// The writer's error, once it stopped.
    fn writer_failed(&mut self) -> Error {
        match self.writer.take().map(Writer::join) {
            Some(Err(e)) => io_error(&self.dst_path, &e),
            _ => Error::Internal("the writer stopped"),
        }
    }

    /// Wait for the last writes; the output is complete once this returns Ok.
    pub fn finish(mut self) -> Result<()> {
        if !self.done {
            return Err(Error::Invalid("the file is not done".into()));
        }
        let writer = self.writer.take().ok_or(Error::Internal("no writer"))?;
        writer.join().map_err(|e| io_error(&self.dst_path, &e))?;
        self.remove = false;
        Ok(())
    }
}

impl Drop for FileJob<'_> {
    /// A job dropped before `finish` succeeded: its output is removed.
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        if self.remove {
            let _ = std::fs::remove_file(&self.dst_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keys::{Keyring, SecretKey};

    fn key() -> (Vec<u8>, SegmentKey) {
        let ring = Keyring::single(0, &SecretKey::from_slice(&[4; 32]).unwrap()).unwrap();
        SegmentKey::create_direct(ring.active(), 12, b"c").unwrap()
    }

    fn run(job: Result<FileJob<'_>>) -> Result<()> {
        let mut job = job?;
        while job.step()? {}
        job.finish()
    }

    fn sealed(k: &SegmentKey, header: &[u8], pt: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; sealed_len(k, pt.len(), true).unwrap()];
        seal_run(k, 0, pt, true, &mut out).unwrap();
        [header, &out].concat()
    }

    #[test]
    fn files_match_one_run_sealing_and_open_back() {
        let dir = std::env::temp_dir().join(format!("sealbox-stream-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (header, k) = key();
        let (plain, enc, back) = (dir.join("p"), dir.join("e"), dir.join("b"));
        for size in [0usize, 1, 4096, 4096 * 3, 4096 * 3 + 1, 4096 * 40 + 7] {
            let pt: Vec<u8> = (0..size).map(|i| (i * 13) as u8).collect();
            std::fs::write(&plain, &pt).unwrap();
            for per_run in [1, 3, 64] {
                run(FileJob::new(
                    &k,
                    Direction::Seal,
                    &header,
                    &plain,
                    &enc,
                    per_run,
                ))
                .unwrap();
                let ct = std::fs::read(&enc).unwrap();
                assert_eq!(ct, sealed(&k, &header, &pt));
                run(FileJob::new(
                    &k,
                    Direction::Open,
                    &header,
                    &enc,
                    &back,
                    per_run,
                ))
                .unwrap();
                assert_eq!(std::fs::read(&back).unwrap(), pt);
            }
            // Truncated at the last segment's start, or one byte longer: fails, no output.
            let ct = std::fs::read(&enc).unwrap();
            let cut = header.len() + (size.saturating_sub(1) / 4096) * (4096 + 16);
            for bad in [&ct[..cut], &[&ct[..], &[0]].concat()[..]] {
                std::fs::write(&enc, bad).unwrap();
                assert_eq!(
                    run(FileJob::new(&k, Direction::Open, &header, &enc, &back, 2)),
                    Err(Error::Decrypt)
                );
                assert!(!back.exists());
            }
        }
        // Another header than the one the key was opened with.
        let (other, _) = key();
        std::fs::write(&enc, sealed(&k, &other, b"x")).unwrap();
        assert_eq!(
            run(FileJob::new(&k, Direction::Open, &header, &enc, &back, 2)),
            Err(Error::Decrypt)
        );
        // A missing input: an I/O error naming it, and the output left alone.
        std::fs::write(&back, b"keep").unwrap();
        let missing = dir.join("missing");
        match run(FileJob::new(
            &k,
            Direction::Seal,
            &header,
            &missing,
            &back,
            2,
        )) {
            Err(Error::Io { code, path, .. }) => {
                assert_eq!(code, Some(2));
                assert_eq!(path, missing.display().to_string());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(&back).unwrap(), b"keep");
        // The output is the input: refused, the input left as it was.
        let before = std::fs::read(&plain).unwrap();
        let same = run(FileJob::new(
            &k,
            Direction::Seal,
            &header,
            &plain,
            &plain,
            2,
        ));
        assert!(matches!(same, Err(Error::Invalid(_))));
        assert_eq!(std::fs::read(&plain).unwrap(), before);
        assert!(run(FileJob::new(&k, Direction::Seal, &header, &plain, &enc, 0)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
