//! The fsync of rolled segments, in the background.
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
//!
//! The fsyncs run on a few shared threads ([`FLUSH_THREADS`], like Kafka's
//! `background.threads` scheduler), not one per flush: after a crash every recovered
//! log starts one at once, which with 1,000 partitions was 1,000 threads. A flush still
//! queued when its log must wait for it is taken off the queue and run by the waiting
//! caller, so a roll never waits behind other logs' flushes.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
#[cfg(test)]
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
    Pooled(Arc<Job>),
    /// No flush thread could be started: the files were synced inline, with this result.
    Done(Result<(), LogError>),
    #[cfg(test)]
    Thread(JoinHandle<Result<(), LogError>>),
}

/// How many threads fsync rolled and recovered segments, for all logs together.
pub(crate) const FLUSH_THREADS: usize = 4;

/// One flush handed to the pool.
struct Job {
    files: Vec<UnsyncedFile>,
    progress: Mutex<Progress>,
    finished: Condvar,
}

enum Progress {
    Queued,
    /// A pool thread or the waiting caller is syncing the files.
    Running,
    Done(Result<(), LogError>),
    /// The result went to the caller.
    Taken,
}

impl Job {
    /// Syncs the files if nobody has started yet; false if somebody had.
    fn run_if_queued(&self) -> bool {
        {
            let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(*progress, Progress::Queued) {
                return false;
            }
            *progress = Progress::Running;
        }
        let result = sync_all(&self.files);
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Progress::Done(result);
        self.finished.notify_all();
        true
    }

    /// Runs the flush here if it is still queued, else waits for it; then its result.
    fn run_or_wait(&self) -> Result<(), LogError> {
        self.run_if_queued();
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *progress, Progress::Taken) {
                Progress::Done(result) => return result,
                Progress::Taken => {
                    return Err(LogError::Io {
                        path: PathBuf::from("log-flush"),
                        source: std::io::Error::other("the flush's result was already taken"),
                    })
                }
                other => {
                    *progress = other;
                    progress = self.finished.wait(progress).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    fn is_finished(&self) -> bool {
        matches!(*self.progress.lock().unwrap_or_else(|e| e.into_inner()), Progress::Done(_) | Progress::Taken)
    }
}

/// The flush threads and the jobs waiting for them. Threads start as jobs arrive, up to
/// [`FLUSH_THREADS`], and then stay for the life of the process.
struct Pool {
    queue: Mutex<Queue>,
    work: Condvar,
}

struct Queue {
    jobs: VecDeque<Arc<Job>>,
    threads: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool { queue: Mutex::new(Queue { jobs: VecDeque::new(), threads: 0 }), work: Condvar::new() })
}

impl Pool {
    /// Queues `job`, starting a thread if fewer than [`FLUSH_THREADS`] run. False if
    /// no thread runs at all and none could be started.
    fn submit(&'static self, job: Arc<Job>) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.threads < FLUSH_THREADS {
            match std::thread::Builder::new().name("log-flush".into()).spawn(move || self.work_loop()) {
                Ok(_) => queue.threads += 1,
                Err(e) if queue.threads == 0 => {
                    tracing::warn!("could not start a thread to flush rolled segments ({e}); flushing inline");
                    return false;
                }
                Err(_) => {}
            }
        }
        queue.jobs.push_back(job);
        self.work.notify_one();
        true
    }

    fn work_loop(&self) {
        loop {
            let job = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        break job;
                    }
                    queue = self.work.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            };
            job.run_if_queued();
        }
    }
}

impl BackgroundFlush {
    /// Starts fsyncing `files` on the flush threads (inline if none can be started).
    pub(crate) fn start(files: Vec<UnsyncedFile>, up_to: i64, truncations: u64) -> BackgroundFlush {
        let job = Arc::new(Job { files, progress: Mutex::new(Progress::Queued), finished: Condvar::new() });
        let state = if pool().submit(job.clone()) {
            State::Pooled(job)
        } else {
            State::Done(job.run_or_wait())
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
        BackgroundFlush { up_to, truncations, state: State::Thread(thread) }
    }

    /// A flush that failed: a test's stand-in for an fsync error.
    #[cfg(test)]
    pub(crate) fn failed(up_to: i64, truncations: u64) -> BackgroundFlush {
        let error = LogError::Io { path: PathBuf::from("test"), source: std::io::Error::other("injected fsync failure") };
        BackgroundFlush { up_to, truncations, state: State::Done(Err(error)) }
    }

    /// The fsyncs are done (or failed).
    pub(crate) fn is_finished(&self) -> bool {
        match &self.state {
            State::Pooled(job) => job.is_finished(),
            State::Done(_) => true,
            #[cfg(test)]
            State::Thread(thread) => thread.is_finished(),
        }
    }

    /// Waits for the fsyncs, running them here if no flush thread has started them
    /// yet; `Ok` when every file is durable.
    ///
    /// # Errors
    /// The first fsync that failed: the files must then be synced again before the
    /// recovery point may move.
    pub(crate) fn join(self) -> Result<(), LogError> {
        match self.state {
            State::Pooled(job) => job.run_or_wait(),
            State::Done(result) => result,
            #[cfg(test)]
            State::Thread(thread) => thread.join().unwrap_or_else(|_| {
                Err(LogError::Io { path: PathBuf::from("log-flush thread"), source: std::io::Error::other("the flush thread panicked") })
            }),
        }
    }
}

fn sync_all(files: &[UnsyncedFile]) -> Result<(), LogError> {
    files.iter().try_for_each(UnsyncedFile::sync)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads of this process named `log-flush`.
    fn flush_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "log-flush")
            .count()
    }

    #[test]
    fn many_flushes_at_once_share_a_few_threads_and_all_complete() {
        let dir = tempfile::tempdir().unwrap();
        let flushes: Vec<BackgroundFlush> = (0..200)
            .map(|i| {
                let path = dir.path().join(format!("{i}.log"));
                let file = File::create(&path).unwrap();
                std::io::Write::write_all(&mut &file, b"unsynced bytes").unwrap();
                BackgroundFlush::start(vec![UnsyncedFile::dup(&path, &file).unwrap()], i, 0)
            })
            .collect();
        let threads = flush_threads();
        assert!((1..=FLUSH_THREADS).contains(&threads), "{threads} flush threads for 200 flushes");
        for flush in flushes {
            flush.join().unwrap();
        }
    }

    #[test]
    fn a_flush_nobody_started_is_run_by_the_caller_that_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let file = File::create(&path).unwrap();
        // Not submitted to the pool: only the caller can run it.
        let job = Job { files: vec![UnsyncedFile::dup(&path, &file).unwrap()], progress: Mutex::new(Progress::Queued), finished: Condvar::new() };
        let flush = BackgroundFlush { up_to: 0, truncations: 0, state: State::Pooled(Arc::new(job)) };
        assert!(!flush.is_finished());
        flush.join().unwrap();
    }

    #[test]
    fn a_flush_started_elsewhere_is_waited_for_not_run_twice() {
        let job = Arc::new(Job { files: Vec::new(), progress: Mutex::new(Progress::Running), finished: Condvar::new() });
        let waiter = std::thread::spawn({
            let job = job.clone();
            move || job.run_or_wait()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a running flush is waited for");
        assert!(!job.run_if_queued(), "a running flush is not started again");
        *job.progress.lock().unwrap() = Progress::Done(Ok(()));
        job.finished.notify_all();
        waiter.join().unwrap().unwrap();
    }
}
