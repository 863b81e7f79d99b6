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
//! segment hands what it appends to one thread, every [`HAND_OVER_BYTES`]. That thread
//! starts the range's writeback as it comes (joined with the ranges that follow it
//! within [`GATHER`]), and once more than the budget of bytes was handed over after it,
//! evicts its pages (`posix_fadvise(POSIX_FADV_DONTNEED)`: the
//! first call starts writeback of dirty pages, a later one drops the pages that are
//! clean by then; pages still being written back are dropped by a retry one and four
//! seconds later). The budget counts across every log of the process, so it bounds the
//! page cache that appends keep however many partitions there are, and the pages evicted
//! are the next ones the kernel hands out, while still backed by the host. The price: a
//! consumer or follower more than the budget behind reads from the disk.
//!
//! The size of a hand-over weighs the thread's calls against the budget's slack. Each
//! hand-over costs up to four calls (start of writeback, eviction, two retries), each a
//! pass of the kernel over the range: with 1,000 partitions, each produce request
//! appending some 17 KB to one of them, a load of 10 M records made 51,000 calls with
//! hand-overs of 64 KiB, 5,500 with 512 KiB. But what a segment has not handed over yet
//! counts against no budget: up to a hand-over per partition. After three such loads
//! with a budget of 1 GiB, hand-overs of 2 MiB had left 2.1 GiB of the logs in the page
//! cache, freed in bursts, all partitions crossing a boundary within the same second: a
//! burst freed a gigabyte at once, the host took back what the next seconds' appends had
//! not reused yet, and half of the broker's time went to faulting it in again (`perf`,
//! 50% of samples in `copy_folio_from_iter_atomic`). At 512 KiB the logs held 1.08 GiB
//! (1.03 at 64 KiB).
//!
//! By default the broker leaves the choice to the machine ([`budget_for_machine`]): a
//! budget of a sixteenth of its memory, at most [`MACHINE_BUDGET_MAX`], where the host
//! takes back free memory, and off elsewhere, as in Kafka.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::num::NonZeroU64;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use rustix::fs::{fadvise, Advice};

/// Bytes a segment appends before it hands them over (or more, in one append). Measured
/// on 2 Intel Xeon cores, fresh brokers taking five loads of 10 M records over 1,000
/// partitions each, interleaved: 143–185 ns of broker CPU per record at 512 KiB against
/// 159–226 at 64 KiB, of which the thread took 9–33 against 20–47 (see the module doc).
pub const HAND_OVER_BYTES: u64 = 512 * 1024;
/// The largest folio the page cache keeps a file in (x86-64), each aligned to its size.
/// Eviction drops only the folios wholly inside its range (measured: a 256 KiB range of
/// a file written 1 MB at a time evicted nothing), so a range is evicted from the
/// multiple of this size at or before its start: a folio that straddles two hand-overs
/// goes with the later one.
pub const FOLIO_MAX_BYTES: u64 = 2 * 1024 * 1024;
/// How long the thread gathers hand-overs after one wakes it, before it handles them
/// all: one wake-up, and one call for each file's run of adjacent ranges, where each
/// hand-over would otherwise cost a wake-up and a call (measured: 10 M records into 1
/// partition at 350 MB/s were 1,103 appends, each a hand-over of about 1 MB).
const GATHER: Duration = Duration::from_millis(10);
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
/// (`handed_to`; the file's length when it was opened) and where the data ends now
/// (`end`): hands the range between over once it holds [`HAND_OVER_BYTES`].
pub(crate) fn appended(file: &Arc<File>, handed_to: &mut u64, end: u64) {
    if let Some(drop_behind) = DROP_BEHIND.get() {
        drop_behind.appended(file, handed_to, end);
    }
}

/// A range of a segment file handed over, by a weak reference: a segment that is
/// deleted meanwhile is not kept open by it.
struct Chunk {
    file: Weak<File>,
    start: u64,
    len: NonZeroU64,
}

impl Chunk {
    /// On arrival: starts writeback of the range's dirty pages (all of them, just
    /// appended).
    fn start_writeback(&self) {
        self.advise_dont_need(self.start);
    }

    /// Once over the budget, and on each retry: drops the range's clean pages, and a
    /// folio the previous hand-over of the file left straddling its start.
    fn evict(&self) {
        self.advise_dont_need(self.start - self.start % FOLIO_MAX_BYTES);
    }

    fn end(&self) -> u64 {
        self.start + self.len.get()
    }

    fn advise_dont_need(&self, from: u64) {
        if let Some(file) = self.file.upgrade() {
            let len = self.end() - from;
            // Only advice: a failure costs memory, not data, and the next chunk retries.
            if let Err(error) = fadvise(&*file, from, NonZeroU64::new(len), Advice::DontNeed) {
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
        let pending = NonZeroU64::new(end.saturating_sub(*handed_to));
        let Some(len) = pending.filter(|len| len.get() >= HAND_OVER_BYTES) else { return };
        let chunk = Chunk { file: Arc::downgrade(file), start: *handed_to, len };
        *handed_to = end;
        // The thread ends only with the process.
        let _ = self.chunks.send(chunk);
    }
}

/// The thread: starts each chunk's writeback as it arrives (gathered for [`GATHER`]),
/// and evicts a chunk once more than `budget_bytes` arrived after it. Pages still being
/// written back then stay, so every evicted chunk is evicted again after each of
/// [`RETRY_AFTER`]: on a busy disk, writeback can take longer than the time the next
/// chunks take to arrive.
fn evict(chunks: &Receiver<Chunk>, budget_bytes: u64) {
    let mut kept = Budget::default();
    let mut retries = Retries::default();
    loop {
        let next = match retries.next_due() {
            None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(due) => chunks.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(first) => {
                std::thread::sleep(GATHER);
                for chunk in gathered(std::iter::once(first).chain(chunks.try_iter())) {
                    chunk.start_writeback();
                    kept.push(chunk);
                    while let Some(oldest) = kept.pop_over(budget_bytes) {
                        oldest.evict();
                        retries.schedule(oldest, 0, Instant::now());
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        retries.run_due(Instant::now());
    }
}

/// The chunks, in arrival order, with each chunk that continues an earlier one of the
/// same file joined to it.
fn gathered(chunks: impl Iterator<Item = Chunk>) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    // Where each file's latest chunk is in `out`, by the file's address: while a chunk
    // holds its weak reference, no other file can take that address.
    let mut latest: HashMap<*const File, usize> = HashMap::new();
    for chunk in chunks {
        let file = chunk.file.as_ptr();
        if let Some(earlier) = latest.get(&file).and_then(|&at| out.get_mut(at)) {
            if earlier.end() == chunk.start {
                earlier.len = earlier.len.saturating_add(chunk.len.get());
                continue;
            }
        }
        latest.insert(file, out.len());
        out.push(chunk);
    }
    out
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
                chunk.evict();
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
    fn appends_are_handed_over_once_they_hold_the_hand_over_size() {
        let (sender, receiver) = channel();
        let drop_behind = DropBehind { chunks: sender };
        let file = Arc::new(tempfile::tempfile().unwrap());
        let opened_at = 3 * FOLIO_MAX_BYTES + 5000;
        let mut handed_to = opened_at;

        drop_behind.appended(&file, &mut handed_to, opened_at + HAND_OVER_BYTES - 1);
        assert!(receiver.try_recv().is_err(), "not enough yet");
        drop_behind.appended(&file, &mut handed_to, opened_at + HAND_OVER_BYTES + 100);
        let first = receiver.try_recv().unwrap();
        assert_eq!((first.start, first.len.get()), (opened_at, HAND_OVER_BYTES + 100), "from the length at open");
        assert_eq!(handed_to, opened_at + HAND_OVER_BYTES + 100);

        // A large append goes over at once, as one range.
        drop_behind.appended(&file, &mut handed_to, 10 * FOLIO_MAX_BYTES + 5);
        let second = receiver.try_recv().unwrap();
        assert_eq!((second.start, second.start + second.len.get()), (first.start + first.len.get(), 10 * FOLIO_MAX_BYTES + 5));
        assert!(Arc::ptr_eq(&second.file.upgrade().unwrap(), &file));
        assert!(receiver.try_recv().is_err());
    }

    /// Bytes of `path` in the page cache (`fincore`, from util-linux).
    fn resident_bytes(path: &Path) -> u64 {
        let output = std::process::Command::new("fincore")
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .arg(path)
            .output()
            .expect("run fincore (util-linux)");
        assert!(output.status.success(), "fincore: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("fincore prints a byte count")
    }

    #[test]
    fn eviction_drops_a_range_and_what_straddles_its_start_but_not_what_comes_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let file = Arc::new(std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).unwrap());
        // Written and synced in one call, so the page cache may hold it in large folios.
        let data = vec![7u8; 3 * FOLIO_MAX_BYTES as usize];
        std::os::unix::fs::FileExt::write_all_at(&*file, &data, 0).unwrap();
        file.sync_all().unwrap();
        assert_eq!(resident_bytes(&path), 3 * FOLIO_MAX_BYTES, "all cached after the write");

        // Two hand-overs that split the second folio-sized block.
        let middle = FOLIO_MAX_BYTES + FOLIO_MAX_BYTES / 2 + 100;
        let first = Chunk { file: Arc::downgrade(&file), start: 0, len: NonZeroU64::new(middle).unwrap() };
        let second = Chunk { file: Arc::downgrade(&file), start: middle, len: NonZeroU64::new(FOLIO_MAX_BYTES).unwrap() };
        first.evict();
        second.evict();
        let resident = resident_bytes(&path);
        let end = middle + FOLIO_MAX_BYTES;
        assert!(resident <= 3 * FOLIO_MAX_BYTES - end + FOLIO_MAX_BYTES, "all but what follows {end} dropped: {resident} cached");
        assert!(resident >= 3 * FOLIO_MAX_BYTES - end - 4096, "what follows stays: {resident}");
        let mut first_block = vec![0u8; FOLIO_MAX_BYTES as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*file, &mut first_block, 0).unwrap();
        assert!(first_block.iter().all(|&b| b == 7), "evicted data reads back from the disk");
    }

    #[test]
    fn gathering_joins_each_files_adjacent_ranges_and_keeps_the_rest_apart() {
        let (a, b) = (Arc::new(tempfile::tempfile().unwrap()), Arc::new(tempfile::tempfile().unwrap()));
        let range = |file: &Arc<File>, start: u64, len: u64| Chunk {
            file: Arc::downgrade(file),
            start,
            len: NonZeroU64::new(len).unwrap(),
        };
        let arrived = [range(&a, 100, 10), range(&b, 0, 5), range(&a, 110, 20), range(&b, 5, 5), range(&a, 200, 1)];
        let out: Vec<_> = gathered(arrived.into_iter())
            .iter()
            .map(|chunk| (Arc::ptr_eq(&chunk.file.upgrade().unwrap(), &a), chunk.start, chunk.len.get()))
            .collect();
        assert_eq!(out, [(true, 100, 30), (false, 0, 10), (true, 200, 1)], "a gap starts a new range");
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
        let chunk = Chunk { file: Arc::downgrade(&file), start: 0, len: NonZeroU64::new(HAND_OVER_BYTES).unwrap() };
        drop(file);
        assert!(chunk.file.upgrade().is_none());
        chunk.start_writeback();
        chunk.evict();
    }
}
