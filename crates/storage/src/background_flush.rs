//! The fsync of rolled segments, on a thread of its own.
//!
//! When the active segment rolls, everything before the new one is made durable and
//! the recovery point moves up to it, so recovery after a crash only re-checks the
//! active segment. Kafka schedules that flush as a background task at every roll; done
//! inline it would hold the log for as long as the disk takes to write up to a whole
//! segment (a second or more for 1 GiB), and every append to the partition would wait.
//!
//! The log hands the files to fsync (duplicated descriptors, so segments may be
//! deleted or replaced meanwhile) to a [`BackgroundFlush`], and applies the result
//! when it finds the thread done: the recovery point moves up only if no truncation
//! happened since (a truncation may have replaced flushed offsets by new, unflushed
//! ones). At most one runs per log; the next roll, an explicit flush and a clean
//! shutdown wait for it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{IoContext, LogError};

/// A file written since its last fsync, through its own descriptor.
pub(crate) struct UnsyncedFile {
    path: PathBuf,
    file: File,
}

impl UnsyncedFile {
    /// Another descriptor for `file` (at `path`).
    ///
    /// # Errors
    /// [`LogError::Io`] when the descriptor cannot be duplicated.
    pub(crate) fn dup(path: &Path, file: &File) -> Result<UnsyncedFile, LogError> {
        Ok(UnsyncedFile { path: path.to_path_buf(), file: file.try_clone().at(path)? })
    }

    fn sync(&self) -> Result<(), LogError> {
        self.file.sync_data().at(&self.path)
    }
}

/// An fsync of the files of rolled segments below `up_to`, running or done.
pub(crate) struct BackgroundFlush {
    /// The recovery point once the files are durable: the base of the new active segment.
    pub(crate) up_to: i64,
    /// The log's truncation count when the flush started.
    pub(crate) truncations: u64,
    state: State,
}

enum State {
    Running(JoinHandle<Result<(), LogError>>),
    /// No thread could be started: the files were synced inline, with this result.
    Done(Result<(), LogError>),
}

impl BackgroundFlush {
    /// Starts fsyncing `files` on a new thread (inline if no thread can be started).
    pub(crate) fn start(files: Vec<UnsyncedFile>, up_to: i64, truncations: u64) -> BackgroundFlush {
        let files = Arc::new(files);
        let on_thread = files.clone();
        let spawned = std::thread::Builder::new().name("log-flush".into()).spawn(move || sync_all(&on_thread));
        let state = match spawned {
            Ok(thread) => State::Running(thread),
            Err(e) => {
                tracing::warn!("could not start a thread to flush rolled segments ({e}); flushing inline");
                State::Done(sync_all(&files))
            }
        };
        BackgroundFlush { up_to, truncations, state }
    }

    /// A flush that syncs nothing and finishes when `gate` is sent to (or dropped): a
    /// test's stand-in for an fsync that takes its time.
    #[cfg(test)]
    pub(crate) fn gated(up_to: i64, truncations: u64, gate: std::sync::mpsc::Receiver<()>) -> BackgroundFlush {
        let thread = std::thread::spawn(move || {
            let _ = gate.recv();
            Ok(())
        });
        BackgroundFlush { up_to, truncations, state: State::Running(thread) }
    }

    /// A flush that failed: a test's stand-in for an fsync error.
    #[cfg(test)]
    pub(crate) fn failed(up_to: i64, truncations: u64) -> BackgroundFlush {
        let error = LogError::Io { path: PathBuf::from("test"), source: std::io::Error::other("injected fsync failure") };
        BackgroundFlush { up_to, truncations, state: State::Done(Err(error)) }
    }

    /// The thread has finished (or never ran).
    pub(crate) fn is_finished(&self) -> bool {
        match &self.state {
            State::Running(thread) => thread.is_finished(),
            State::Done(_) => true,
        }
    }

    /// Waits for the fsyncs; `Ok` when every file is durable.
    ///
    /// # Errors
    /// The first fsync that failed (or the thread's panic, or its failed start): the
    /// files must then be synced again before the recovery point may move.
    pub(crate) fn join(self) -> Result<(), LogError> {
        match self.state {
            State::Running(thread) => thread.join().unwrap_or_else(|_| {
                Err(LogError::Io { path: PathBuf::from("log-flush thread"), source: std::io::Error::other("the flush thread panicked") })
            }),
            State::Done(result) => result,
        }
    }
}

fn sync_all(files: &[UnsyncedFile]) -> Result<(), LogError> {
    files.iter().try_for_each(UnsyncedFile::sync)
}
