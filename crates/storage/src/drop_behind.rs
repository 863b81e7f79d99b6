//! Drop-behind: evicting appended log data from the page cache soon after it is written,
//! so that appends keep writing into the same few page-cache pages.
//!
//! Kafka leaves everything it writes in the page cache, and so does Spool by default:
//! consumers that fall behind read from memory. But a page-cache page costs more than a
//! copy when the memory under it is new to the process's machine. On a virtual machine
//! that hands free memory back to its host (virtio-balloon free page reporting; DAMON
//! reclaim), every page the guest has not used lately is a host fault on first write:
//! on the development machine, with 1 GiB written to a new file, 1.8 GB/s against
//! 5.2 GB/s into pages just freed, and three local brokers replicating one partition
//! spent most of their time in that first write (`perf`: 47% of all samples in
//! `copy_folio_from_iter_atomic`).
//!
//! With a budget (broker config `spool.log.drop.behind.bytes`), each
//! segment hands every [`CHUNK_BYTES`] it appends to one thread. That thread starts the
//! chunk's writeback at once, and once more than the budget of bytes was handed over
//! after it, evicts its pages (`posix_fadvise(POSIX_FADV_DONTNEED)`: the first call
//! starts writeback of dirty pages, a later one drops the pages that are clean by then;
//! pages still being written back are dropped by a retry one and four seconds later).
//! The budget counts across every log of the process, so it bounds the page cache that
//! appends keep however many partitions there are, and the pages evicted are the next
//! ones the kernel hands out, while still backed by the host. The price: a consumer or
//! follower more than the budget behind reads from the disk.
//!
//! By default the broker leaves the choice to the machine ([`budget_for_machine`]): a
//! budget of a sixteenth of its memory, at most [`MACHINE_BUDGET_MAX`], where the host
//! takes back free memory, and off elsewhere, as in Kafka.

use std::collections::VecDeque;
use std::fs::File;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use rustix::fs::{fadvise, Advice};

/// Bytes a segment appends between two hand-overs; chunks start and end at multiples
/// of it. The page cache keeps a file in folios of up to 2 MiB (x86-64), each aligned
/// to its size, and eviction drops only the folios wholly inside the range: at 2 MiB
/// boundaries no folio straddles two chunks (measured: a 256 KiB range of a file written
/// 1 MB at a time evicted nothing).
pub const CHUNK_BYTES: u64 = 2 * 1024 * 1024;
/// When an evicted chunk is evicted again: after the first delay, then after the second.
const RETRY_AFTER: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(3)];

/// The process's drop-behind, once [`start`] was called with a budget.
static DROP_BEHIND: OnceLock<DropBehind> = OnceLock::new();

/// Turns drop-behind on for every log of the process, keeping about `budget_bytes` of
/// appended data in the page cache (see the module doc). The first call with a
/// non-zero budget decides; 0 changes nothing.
///
/// # Errors
/// When the thread cannot be started.
pub fn start(budget_bytes: u64) -> std::io::Result<()> {
    if budget_bytes == 0 || DROP_BEHIND.get().is_some() {
        return Ok(());
    }
    let drop_behind = DropBehind::spawn(budget_bytes)?;
    let _ = DROP_BEHIND.set(drop_behind);
    Ok(())
}

/// The virtio-balloon feature bit of free page reporting (`VIRTIO_BALLOON_F_REPORTING`).
const BALLOON_F_REPORTING: usize = 5;

/// Whether this machine is a virtual machine that hands the memory it frees back to its
/// host (a virtio-balloon device with free page reporting), read from the sysfs mounted
/// at `sys` (`/sys`). There every page-cache page the guest has not used lately costs a
/// host fault on its first write, which drop-behind avoids for appends (see the module
/// doc). Unreadable sysfs reads as no.
pub fn host_takes_back_free_memory(sys: &Path) -> bool {
    let Ok(devices) = std::fs::read_dir(sys.join("bus/virtio/drivers/virtio_balloon")) else { return false };
    devices.flatten().filter(|device| device.file_name().to_string_lossy().starts_with("virtio")).any(|device| {
        // One character per feature bit, lowest first.
        std::fs::read(device.path().join("features"))
            .is_ok_and(|features| features.get(BALLOON_F_REPORTING) == Some(&b'1'))
    })
}

/// The largest budget [`budget_for_machine`] picks: at the 1 GB/s a virtual disk
/// writes, a second of appends, which the readers that keep up with them (followers,
/// consumers at the tail) read from memory. A larger budget would keep more for readers
/// and still let a long-running broker reuse its pages, but only once the logs have
/// appended that much: no append before then reuses a page.
pub const MACHINE_BUDGET_MAX: u64 = 1024 * 1024 * 1024;

/// The budget for a broker that leaves it to the machine: where the host takes back
/// the memory the guest frees ([`host_takes_back_free_memory`], read from the sysfs at
/// `sys`), a sixteenth of `total_memory` bytes, at most [`MACHINE_BUDGET_MAX`];
/// elsewhere 0 (off), since there a page-cache page costs no more the first time it is
/// written than later, and the cache serves readers from memory for as long as it can.
pub fn budget_for_machine(sys: &Path, total_memory: u64) -> u64 {
    if host_takes_back_free_memory(sys) {
        (total_memory / 16).min(MACHINE_BUDGET_MAX)
    } else {
        0
    }
}

/// The machine's memory in bytes (`sysinfo(2)`).
#[allow(clippy::useless_conversion, reason = "totalram is a C unsigned long: 32 bits on some targets")]
pub fn total_memory() -> u64 {
    let info = rustix::system::sysinfo();
    u64::from(info.totalram).saturating_mul(u64::from(info.mem_unit))
}

/// Called by a segment after each append, with where the file's handed-over part ends
/// (`handed_to`, a multiple of [`CHUNK_BYTES`]) and where the data ends now (`end`):
/// hands the whole chunks between over.
pub(crate) fn appended(file: &Arc<File>, handed_to: &mut u64, end: u64) {
    if let Some(drop_behind) = DROP_BEHIND.get() {
        drop_behind.appended(file, handed_to, end);
    }
}

/// Where the whole chunks of a file that holds `size_bytes` end: where its handed-over
/// part ends once it is opened or cut to that size.
pub(crate) fn whole_chunks_end(size_bytes: u64) -> u64 {
    size_bytes - size_bytes % CHUNK_BYTES
}

/// A range of a segment file handed over, by a weak reference: a segment that is
/// deleted meanwhile is not kept open by it.
struct Chunk {
    file: Weak<File>,
    start: u64,
    len: NonZeroU64,
}

impl Chunk {
    fn advise_dont_need(&self) {
        if let Some(file) = self.file.upgrade() {
            // Only advice: a failure costs memory, not data, and the next chunk retries.
            if let Err(error) = fadvise(&*file, self.start, Some(self.len), Advice::DontNeed) {
                tracing::debug!(%error, "posix_fadvise(DONTNEED) failed");
            }
        }
    }
}

struct DropBehind {
    chunks: Sender<Chunk>,
}

impl DropBehind {
    fn spawn(budget_bytes: u64) -> std::io::Result<DropBehind> {
        let (sender, receiver) = channel();
        std::thread::Builder::new().name("drop-behind".into()).spawn(move || evict(&receiver, budget_bytes))?;
        Ok(DropBehind { chunks: sender })
    }

    fn appended(&self, file: &Arc<File>, handed_to: &mut u64, end: u64) {
        let chunk_end = whole_chunks_end(end);
        let Some(len) = NonZeroU64::new(chunk_end.saturating_sub(*handed_to)) else { return };
        let chunk = Chunk { file: Arc::downgrade(file), start: *handed_to, len };
        *handed_to = chunk_end;
        // The thread ends only with the process.
        let _ = self.chunks.send(chunk);
    }
}

/// The thread: starts each chunk's writeback as it arrives, and evicts a chunk once
/// more than `budget_bytes` arrived after it. Pages still being written back then stay,
/// so every evicted chunk is evicted again after each of [`RETRY_AFTER`]: on a busy
/// disk, writeback can take longer than the time the next chunks take to arrive.
fn evict(chunks: &Receiver<Chunk>, budget_bytes: u64) {
    let mut kept = Budget::default();
    let mut retries = Retries::default();
    loop {
        let next = match retries.next_due() {
            None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(due) => chunks.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(chunk) => {
                chunk.advise_dont_need();
                kept.push(chunk);
                while let Some(oldest) = kept.pop_over(budget_bytes) {
                    oldest.advise_dont_need();
                    retries.schedule(oldest, 0, Instant::now());
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        retries.run_due(Instant::now());
    }
}

/// Evicted chunks waiting to be evicted again, one queue per retry (each in due order).
#[derive(Default)]
struct Retries {
    queues: [VecDeque<(Instant, Chunk)>; RETRY_AFTER.len()],
}

impl Retries {
    /// Schedules retry number `retry` of `chunk`, whose last eviction was at `at`.
    fn schedule(&mut self, chunk: Chunk, retry: usize, at: Instant) {
        if let Some(queue) = self.queues.get_mut(retry) {
            queue.push_back((at + RETRY_AFTER[retry], chunk));
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.queues.iter().filter_map(|queue| queue.front().map(|(due, _)| *due)).min()
    }

    /// Evicts again every chunk due by `now`, and schedules its next retry.
    fn run_due(&mut self, now: Instant) {
        for retry in 0..RETRY_AFTER.len() {
            while self.queues[retry].front().is_some_and(|(due, _)| *due <= now) {
                let Some((_, chunk)) = self.queues[retry].pop_front() else { break };
                chunk.advise_dont_need();
                self.schedule(chunk, retry + 1, now);
            }
        }
    }
}

/// Chunks in arrival order, with their total size.
#[derive(Default)]
struct Budget {
    chunks: VecDeque<Chunk>,
    bytes: u64,
}

impl Budget {
    fn push(&mut self, chunk: Chunk) {
        self.bytes += chunk.len.get();
        self.chunks.push_back(chunk);
    }

    /// The oldest chunk, while the chunks hold more than `budget_bytes`.
    fn pop_over(&mut self, budget_bytes: u64) -> Option<Chunk> {
        if self.bytes <= budget_bytes {
            return None;
        }
        let oldest = self.chunks.pop_front()?;
        self.bytes -= oldest.len.get();
        Some(oldest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs with one virtio-balloon device announcing `features`.
    fn sysfs_with_balloon(features: &str) -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let device = sys.path().join("bus/virtio/drivers/virtio_balloon/virtio3");
        std::fs::create_dir_all(&device).unwrap();
        std::fs::write(sys.path().join("bus/virtio/drivers/virtio_balloon/uevent"), "DRIVER=virtio_balloon\n").unwrap();
        std::fs::write(device.join("features"), format!("{features}\n")).unwrap();
        sys
    }

    #[test]
    fn a_balloon_with_free_page_reporting_is_a_host_that_takes_back_free_memory() {
        // As read off the development machine: bits 1, 2, 5 and 32.
        let reporting = sysfs_with_balloon("0110010000000000000000000000000010000000");
        assert!(host_takes_back_free_memory(reporting.path()));
        let without_reporting = sysfs_with_balloon("0110000000000000000000000000000010000000");
        assert!(!host_takes_back_free_memory(without_reporting.path()));
        let too_short = sysfs_with_balloon("0110");
        assert!(!host_takes_back_free_memory(too_short.path()));
        let no_balloon = tempfile::tempdir().unwrap();
        assert!(!host_takes_back_free_memory(no_balloon.path()));
    }

    #[test]
    fn the_machine_budget_is_a_sixteenth_of_memory_up_to_a_gibibyte_where_the_host_takes_back_free_memory() {
        const GIB: u64 = 1024 * 1024 * 1024;
        let reporting = sysfs_with_balloon("0110010000000000000000000000000010000000");
        assert_eq!(budget_for_machine(reporting.path(), 4 * GIB), GIB / 4);
        assert_eq!(budget_for_machine(reporting.path(), 24 * GIB), MACHINE_BUDGET_MAX);
        let without_reporting = sysfs_with_balloon("0110000000000000000000000000000010000000");
        assert_eq!(budget_for_machine(without_reporting.path(), 24 * GIB), 0, "off where memory stays the guest's");
        assert!(total_memory() > 0);
    }

    fn chunk(len: u64) -> Chunk {
        Chunk { file: Weak::new(), start: 0, len: NonZeroU64::new(len).unwrap() }
    }

    #[test]
    fn appends_are_handed_over_in_whole_aligned_chunks() {
        let (sender, receiver) = channel();
        let drop_behind = DropBehind { chunks: sender };
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut handed_to = whole_chunks_end(CHUNK_BYTES + 5000);
        assert_eq!(handed_to, CHUNK_BYTES, "a file opened with data hands over from its last chunk boundary");

        drop_behind.appended(&file, &mut handed_to, 2 * CHUNK_BYTES - 1);
        assert!(receiver.try_recv().is_err(), "not a whole chunk yet");
        drop_behind.appended(&file, &mut handed_to, 2 * CHUNK_BYTES + 100);
        let first = receiver.try_recv().unwrap();
        assert_eq!((first.start, first.len.get()), (CHUNK_BYTES, CHUNK_BYTES));
        assert_eq!(handed_to, 2 * CHUNK_BYTES);

        // A large append goes over as one range of whole chunks.
        drop_behind.appended(&file, &mut handed_to, 10 * CHUNK_BYTES + 5);
        let second = receiver.try_recv().unwrap();
        assert_eq!((second.start, second.start + second.len.get()), (2 * CHUNK_BYTES, 10 * CHUNK_BYTES));
        assert!(Arc::ptr_eq(&second.file.upgrade().unwrap(), &file));
        assert!(receiver.try_recv().is_err());
    }

    #[test]
    fn a_budget_gives_up_its_oldest_chunks_only_while_over() {
        let mut budget = Budget::default();
        for len in [3, 4, 5] {
            budget.push(chunk(len));
        }
        assert!(budget.pop_over(12).is_none(), "12 bytes fit a budget of 12");
        assert_eq!(budget.pop_over(8).map(|c| c.len.get()), Some(3));
        assert_eq!(budget.pop_over(8).map(|c| c.len.get()), Some(4));
        assert!(budget.pop_over(8).is_none(), "5 bytes left");
        assert_eq!(budget.bytes, 5);
    }

    #[test]
    fn an_evicted_chunk_is_evicted_again_after_each_delay_then_forgotten() {
        let mut retries = Retries::default();
        let start = Instant::now();
        retries.schedule(chunk(1), 0, start);
        retries.schedule(chunk(2), 0, start + Duration::from_millis(10));
        assert_eq!(retries.next_due(), Some(start + RETRY_AFTER[0]));
        retries.run_due(start + RETRY_AFTER[0]);
        assert_eq!(retries.queues.each_ref().map(|q| q.len()), [1, 1], "the first is on its second retry");
        assert_eq!(retries.next_due(), Some(start + Duration::from_millis(10) + RETRY_AFTER[0]));
        let later = start + RETRY_AFTER[0] + RETRY_AFTER[1] + Duration::from_millis(10);
        retries.run_due(later);
        assert_eq!(retries.queues.each_ref().map(|q| q.len()), [0, 1], "the second waits for its second retry");
        retries.run_due(later + RETRY_AFTER[1]);
        assert_eq!(retries.next_due(), None, "two retries, then nothing");
    }

    #[test]
    fn a_deleted_segment_is_not_kept_open_by_its_chunks() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let chunk = Chunk { file: Arc::downgrade(&file), start: 0, len: NonZeroU64::new(CHUNK_BYTES).unwrap() };
        drop(file);
        assert!(chunk.file.upgrade().is_none());
        chunk.advise_dont_need();
    }
}
