//! The records of a segment: `<base offset>.log`.
//! Layout and crash behaviour are documented on the type.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use spool_protocol::batch::{validate_batch, BatchError, BatchHeader, BATCH_HEADER_LEN};

use crate::background_flush::UnsyncedFile;
use crate::drop_behind;
use crate::error::{IoContext, LogError};
use crate::file_slice::FileSlice;

/// Bytes at the start of a batch that the leader assigns: `baseOffset` (0..8),
/// `batchLength` (8..12, kept), `partitionLeaderEpoch` (12..16). The CRC starts later.
const ASSIGNED_PREFIX_LEN: usize = 16;
/// Most buffers one `pwritev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;
/// Read size of [`FileRecords::for_each_batch_bytes`]; larger batches are checked by streaming.
const WHOLE_SCAN_CHUNK_BYTES: usize = 1024 * 1024;
/// Bytes of the CRC-covered region's start within a batch (the `attributes` field).
const CRC_START: u64 = 21;
/// Share of the filesystem, in percent, that [`FileRecords::preallocate`] leaves free:
/// reservations for many partitions must not take the space that appends need.
const RESERVE_LEAVES_FREE_PERCENT: u64 = 10;
/// Disk usage past the end that [`FileRecords::trim`] takes for the filesystem's own
/// blocks (the last one partly used, ext4's extent tree) rather than a reservation.
const RESERVATION_SLACK_BYTES: u64 = 64 * 1024;

/// The records of one segment, `<base offset>.log`.
///
/// The file is the concatenation of record batches exactly as producers sent them,
/// after the leader rewrote their base offset and partition leader epoch (see
/// `spool_protocol::batch` for the 61-byte batch header). There is no framing of its
/// own: a batch's `batchLength` field gives the position of the next one. Offsets
/// increase from batch to batch, and every batch's last offset minus the segment's base
/// offset fits in 31 bits; the file is at most `i32::MAX` bytes.
///
/// Writes are positioned (`pwrite`) at the in-memory size, which only advances after a
/// whole record set is written; reads are positioned (`pread`) and never look past that
/// size, so readers sharing `&self` never see a partial append.
///
/// Crash behaviour: a crash can leave a partial batch, garbage, or a batch with a bad
/// CRC at the end of any segment written after the recovery point. Recovery validates
/// every batch there (header, length, CRC32C) with [`BatchScanner`] and truncates the file
/// at the first invalid one.
///
/// Preallocation (`preallocate`): [`FileRecords::preallocate`] reserves disk blocks past
/// the end without changing the file's length (`fallocate` with `FALLOC_FL_KEEP_SIZE`),
/// so readers and recovery never see the reservation, unlike Kafka's, which lengthens
/// the file and must cut it back. Appends into reserved blocks skip the filesystem's
/// per-page delayed allocation (on ext4 a tenth to a third of the broker's CPU under
/// a single-partition produce load; see the README). [`FileRecords::trim`] gives back
/// what was not used.
pub(crate) struct FileRecords {
    path: PathBuf,
    /// Shared with the [`FileSlice`]s that fetches send from.
    file: Arc<File>,
    size_bytes: u64,
    unsynced: bool,
    /// Where the part of the file handed to [`drop_behind`] ends.
    handed_to: u64,
}

impl FileRecords {
    /// Opens (creating if missing) the file; its whole length counts as records until
    /// recovery or [`FileRecords::truncate_to`] says otherwise.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn open(path: PathBuf) -> Result<Self, LogError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).at(&path)?;
        let size_bytes = file.metadata().at(&path)?.len();
        Ok(FileRecords { path, file: Arc::new(file), size_bytes, unsynced: true, handed_to: size_bytes })
    }

    /// Reserves disk blocks for the file's first `len` bytes, keeping its length (see
    /// preallocation on the type). Advisory: where the filesystem cannot (no
    /// `fallocate`, or too little space: see [`room_to_reserve`]), appends go on without
    /// and the reason is logged.
    pub(crate) fn preallocate(&self, len: u64) {
        let reserve = || -> io::Result<bool> {
            let to_reserve = len.saturating_sub(self.file.metadata()?.blocks() * 512);
            if to_reserve == 0 {
                // Reserved already: a new log's first segment is reserved when it is
                // created and again when the log opens, and after a crash the active
                // segment still holds its reservation.
                return Ok(true);
            }
            let fs = rustix::fs::fstatvfs(&*self.file)?;
            if !room_to_reserve(fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize, to_reserve) {
                return Ok(false);
            }
            rustix::fs::fallocate(&*self.file, rustix::fs::FallocateFlags::KEEP_SIZE, 0, len)?;
            Ok(true)
        };
        let path = self.path.display();
        match reserve() {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                %path,
                len,
                "not preallocating the segment (preallocate=true): the filesystem would have less than \
                 {RESERVE_LEAVES_FREE_PERCENT}% free; appends go on without"
            ),
            // EOPNOTSUPP or ENOSYS: nothing to tell the operator on every roll.
            Err(error) if error.kind() == io::ErrorKind::Unsupported => {
                tracing::debug!(%path, "the filesystem cannot preallocate (fallocate unsupported)");
            }
            Err(error) => tracing::warn!(
                %path,
                len,
                %error,
                "cannot preallocate the segment (preallocate=true); appends go on without it"
            ),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Writes `bytes` at the end and returns the position they start at.
    ///
    /// # Errors
    /// [`LogError::Io`]; the size is then unchanged and the next append overwrites
    /// whatever part was written.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<u64, LogError> {
        let position = self.size_bytes;
        self.file.write_all_at(bytes, position).at(&self.path)?;
        self.size_bytes += bytes.len() as u64;
        self.unsynced = true;
        drop_behind::appended(&self.file, &mut self.handed_to, self.size_bytes);
        Ok(position)
    }

    /// Appends whole batches as [`FileRecords::append`] does, but with each batch's base
    /// offset and partition leader epoch taken from `headers` (one per batch of
    /// `records`, in order) rather than from `records`: a leader assigns them, and writing
    /// them from here spares copying the request's bytes to rewrite them. Neither field
    /// is covered by the batch CRC. One `pwritev` writes up to 512 batches.
    ///
    /// # Errors
    /// As [`FileRecords::append`].
    pub(crate) fn append_assigned(&mut self, records: &[u8], headers: &[BatchHeader]) -> Result<u64, LogError> {
        let position = self.size_bytes;
        let mut prefixes = Vec::with_capacity(headers.len());
        let mut at = 0;
        for header in headers {
            let mut prefix = [0u8; ASSIGNED_PREFIX_LEN];
            prefix[0..8].copy_from_slice(&header.base_offset.to_be_bytes());
            prefix[8..12].copy_from_slice(&records[at + 8..at + 12]);
            prefix[12..16].copy_from_slice(&header.partition_leader_epoch.to_be_bytes());
            prefixes.push(prefix);
            at += header.size();
        }
        debug_assert_eq!(at, records.len(), "headers describe every byte of records");
        let mut slices = Vec::with_capacity(2 * headers.len());
        at = 0;
        for (header, prefix) in headers.iter().zip(&prefixes) {
            slices.push(IoSlice::new(prefix));
            slices.push(IoSlice::new(&records[at + ASSIGNED_PREFIX_LEN..at + header.size()]));
            at += header.size();
        }
        write_all_vectored_at(&self.file, &mut slices, position).at(&self.path)?;
        self.size_bytes += at as u64;
        self.unsynced = true;
        drop_behind::appended(&self.file, &mut self.handed_to, self.size_bytes);
        Ok(position)
    }

    /// Fills `buf` from `position`.
    ///
    /// # Errors
    /// [`LogError::Io`], including a read past the end of the file.
    pub(crate) fn read_exact_at(&self, buf: &mut [u8], position: u64) -> Result<(), LogError> {
        self.file.read_exact_at(buf, position).at(&self.path)
    }

    /// `len` bytes from `position`, to be sent without reading them here.
    pub(crate) fn slice(&self, position: u64, len: usize) -> FileSlice {
        FileSlice::new(Arc::clone(&self.file), position, len)
    }

    /// Cuts the file to `size_bytes` (also dropping any bytes past the in-memory size).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn truncate_to(&mut self, size_bytes: u64) -> Result<(), LogError> {
        self.file.set_len(size_bytes).at(&self.path)?;
        self.size_bytes = size_bytes;
        self.unsynced = true;
        self.handed_to = self.handed_to.min(size_bytes);
        Ok(())
    }

    /// Drops bytes past the in-memory size left by a failed append, and disk blocks
    /// reserved past it ([`FileRecords::preallocate`], also one left by a crash).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn trim(&mut self) -> Result<(), LogError> {
        let meta = self.file.metadata().at(&self.path)?;
        if meta.len() != self.size_bytes || meta.blocks() * 512 > self.size_bytes + RESERVATION_SLACK_BYTES {
            self.truncate_to(self.size_bytes)?;
        }
        Ok(())
    }

    /// fsyncs the file if it was written since the last sync (or since it was opened).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        if self.unsynced {
            self.file.sync_data().at(&self.path)?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Another descriptor for the file if it was written since the last sync, for an
    /// fsync without the segment (the flag stays until [`FileRecords::sync`] runs).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn unsynced_file(&self) -> Result<Option<UnsyncedFile>, LogError> {
        self.unsynced.then(|| UnsyncedFile::dup(&self.path, &self.file)).transpose()
    }

    /// The file's modification time in ms since the epoch (a fact of the disk, used by
    /// retention for segments without timestamps, as Kafka does).
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn last_modified_ms(&self) -> Result<i64, LogError> {
        let modified = self.file.metadata().at(&self.path)?.modified().at(&self.path)?;
        Ok(modified.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0))
    }

    /// Another handle on the file that sees its first [`FileRecords::size_bytes`] bytes
    /// as they are now, for reading only: the log cleaner reads an inactive segment
    /// through it without holding the log. Reads keep working after the file is renamed
    /// or deleted.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn try_clone_for_reading(&self) -> Result<FileRecords, LogError> {
        let file = self.file.try_clone().at(&self.path)?;
        Ok(FileRecords {
            path: self.path.clone(),
            file: Arc::new(file),
            size_bytes: self.size_bytes,
            unsynced: false,
            handed_to: self.handed_to,
        })
    }

    /// Whether `other` is a handle on the same file (device and inode), whatever its name.
    ///
    /// # Errors
    /// [`LogError::Io`].
    pub(crate) fn is_same_file(&self, other: &FileRecords) -> Result<bool, LogError> {
        let mine = self.file.metadata().at(&self.path)?;
        let theirs = other.file.metadata().at(&other.path)?;
        Ok(mine.dev() == theirs.dev() && mine.ino() == theirs.ino())
    }

    /// Calls `f` with the header and bytes of every batch, in order, each batch
    /// validated (CRC32C) first; `f` returns false to stop. Memory: one read buffer of
    /// the largest batch.
    ///
    /// # Errors
    /// [`LogError::CorruptSegment`] at bytes that are not a valid batch; [`LogError::Io`];
    /// whatever `f` returns.
    pub(crate) fn for_each_batch_bytes(
        &self,
        mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<bool, LogError>,
    ) -> Result<(), LogError> {
        let mut scanner = self.scanner(0, WHOLE_SCAN_CHUNK_BYTES);
        let mut buf = Vec::new();
        loop {
            match scanner.next(true)? {
                Scanned::Batch { position, header } => {
                    buf.resize(header.size(), 0);
                    self.read_exact_at(&mut buf, position)?;
                    if !f(&header, &buf)? {
                        return Ok(());
                    }
                }
                Scanned::Invalid { position, error } => {
                    let (path, reason) = (self.path.clone(), error.to_string());
                    return Err(LogError::CorruptSegment { path, position, reason });
                }
                Scanned::End => return Ok(()),
            }
        }
    }

    /// A scanner over the batches from `position` to the end, reading `chunk_bytes` at a time.
    pub(crate) fn scanner(&self, position: u64, chunk_bytes: usize) -> BatchScanner<'_> {
        self.scanner_until(position, self.size_bytes, chunk_bytes)
    }

    /// A scanner over the batches in `[position, end)`: a batch crossing `end` is
    /// reported as [`Scanned::Invalid`] (truncated), and nothing past `end` is read.
    pub(crate) fn scanner_until(&self, position: u64, end: u64, chunk_bytes: usize) -> BatchScanner<'_> {
        BatchScanner {
            records: self,
            position,
            end: end.min(self.size_bytes),
            chunk_bytes: chunk_bytes.max(BATCH_HEADER_LEN),
            buf: Vec::new(),
            buf_start: 0,
        }
    }
}

/// What [`BatchScanner::next`] found at its position.
#[derive(Debug)]
pub(crate) enum Scanned {
    Batch { position: u64, header: BatchHeader },
    /// Bytes that are not a (valid) batch start here; scanning stops.
    Invalid { position: u64, error: BatchError },
    End,
}

/// Walks the batch headers of a `.log` file through a reused read buffer, optionally
/// checking each batch's CRC. Batches larger than the buffer are checked by streaming,
/// so memory stays at one chunk whatever the batch size.
pub(crate) struct BatchScanner<'a> {
    records: &'a FileRecords,
    position: u64,
    end: u64,
    chunk_bytes: usize,
    buf: Vec<u8>,
    buf_start: u64,
}

impl BatchScanner<'_> {
    /// Makes `buf` hold `[position, position + len)`; `len` must fit in the file.
    fn fill(&mut self, position: u64, len: usize) -> Result<&[u8], LogError> {
        let held = position >= self.buf_start && position + len as u64 <= self.buf_start + self.buf.len() as u64;
        if !held {
            let read_len = (self.chunk_bytes.max(len) as u64).min(self.end - position) as usize;
            self.buf.resize(read_len, 0);
            self.records.read_exact_at(&mut self.buf, position)?;
            self.buf_start = position;
        }
        let from = (position - self.buf_start) as usize;
        Ok(&self.buf[from..from + len])
    }

    /// The next batch header; with `verify`, the batch is also fully validated
    /// (length, CRC32C, record count).
    ///
    /// # Errors
    /// [`LogError::Io`] only: bad bytes are reported as [`Scanned::Invalid`].
    pub(crate) fn next(&mut self, verify: bool) -> Result<Scanned, LogError> {
        let position = self.position;
        let remaining = self.end.saturating_sub(position);
        if remaining == 0 {
            return Ok(Scanned::End);
        }
        let header_len = (BATCH_HEADER_LEN as u64).min(remaining) as usize;
        let header = match BatchHeader::parse(self.fill(position, header_len)?) {
            Ok(header) => header,
            Err(error) => return Ok(Scanned::Invalid { position, error }),
        };
        let size = header.size() as u64;
        if size > remaining {
            let error = BatchError::Truncated { needed: header.size(), available: remaining as usize };
            return Ok(Scanned::Invalid { position, error });
        }
        if verify {
            let checked = if size <= self.chunk_bytes as u64 {
                validate_batch(self.fill(position, size as usize)?, usize::MAX).map(|_| ()).or_else(allow_compacted_count)
            } else {
                self.validate_streaming(position, &header)?
            };
            if let Err(error) = checked {
                return Ok(Scanned::Invalid { position, error });
            }
        }
        self.position = position + size;
        Ok(Scanned::Batch { position, header })
    }

    /// `validate_batch` for a batch larger than the buffer: CRC32C computed chunk by chunk.
    fn validate_streaming(&mut self, position: u64, header: &BatchHeader) -> Result<Result<(), BatchError>, LogError> {
        let stop = position + header.size() as u64;
        let mut at = position + CRC_START;
        let mut crc = 0u32;
        while at < stop {
            let len = ((stop - at) as usize).min(self.chunk_bytes);
            crc = crc32c::crc32c_append(crc, self.fill(at, len)?);
            at += len as u64;
        }
        if crc != header.crc {
            return Ok(Err(BatchError::CorruptCrc { stored: header.crc, computed: crc }));
        }
        // The record-count rule of stored batches (see `allow_compacted_count`).
        let (count, delta) = (header.record_count, header.last_offset_delta);
        if count < 0 || delta < 0 {
            return Ok(Err(BatchError::InvalidRecordCount { count, last_offset_delta: delta }));
        }
        Ok(Ok(()))
    }
}

/// Stored batches may hold fewer records than their offsets span: the log cleaner keeps
/// a batch's base and last offset when it drops records (down to none at all, for the
/// last batch of an idempotent producer), as Kafka does. Produce validation requires
/// `recordCount == lastOffsetDelta + 1`; a stored batch only needs both non-negative.
fn allow_compacted_count(error: BatchError) -> Result<(), BatchError> {
    match error {
        BatchError::InvalidRecordCount { count, last_offset_delta } if count >= 0 && last_offset_delta >= 0 => Ok(()),
        other => Err(other),
    }
}

/// Whether reserving `len` more bytes leaves [`RESERVE_LEAVES_FREE_PERCENT`] of a
/// filesystem of `total` bytes, `available` of them free, free.
fn room_to_reserve(available: u64, total: u64, len: u64) -> bool {
    available.saturating_sub(len) >= total / 100 * RESERVE_LEAVES_FREE_PERCENT
}

/// `pwritev` of all of `slices` at `position`, retried after short writes.
fn write_all_vectored_at(file: &File, mut slices: &mut [IoSlice<'_>], mut position: u64) -> io::Result<()> {
    while !slices.is_empty() {
        let count = slices.len().min(IOV_MAX);
        match rustix::io::pwritev(file, &slices[..count], position) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "pwritev wrote nothing")),
            Ok(written) => {
                position += written as u64;
                IoSlice::advance_slices(&mut slices, written);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record_batches::{encode, Spec};

    /// One batch of `count` records of `value_bytes` each.
    fn batch(count: usize, value_bytes: usize) -> bytes::BytesMut {
        encode(&Spec { count, value_bytes, ..Spec::default() })
    }

    fn scan_all(records: &FileRecords, chunk_bytes: usize, verify: bool) -> (Vec<u64>, Scanned) {
        let mut scanner = records.scanner(0, chunk_bytes);
        let mut positions = Vec::new();
        loop {
            match scanner.next(verify).unwrap() {
                Scanned::Batch { position, .. } => positions.push(position),
                other => return (positions, other),
            }
        }
    }

    #[test]
    fn reservations_leave_a_tenth_of_the_filesystem_free() {
        const GIB: u64 = 1 << 30;
        assert!(room_to_reserve(50 * GIB, 100 * GIB, GIB));
        assert!(room_to_reserve(11 * GIB, 100 * GIB, GIB));
        assert!(!room_to_reserve(10 * GIB, 100 * GIB, GIB));
        assert!(!room_to_reserve(GIB / 2, 100 * GIB, GIB));
        assert!(room_to_reserve(10 * GIB, 100 * GIB, 0), "nothing left to reserve");
    }

    #[test]
    fn a_truncation_moves_the_drop_behind_hand_over_back_to_the_new_end() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0.log"), vec![0u8; 3000]).unwrap();
        let mut records = FileRecords::open(dir.path().join("0.log")).unwrap();
        assert_eq!(records.handed_to, 3000, "what was there at open is not handed over");
        records.truncate_to(1001).unwrap();
        assert_eq!(records.handed_to, 1001, "what is written next is handed over from the new end");
        records.truncate_to(2000).unwrap();
        assert_eq!(records.handed_to, 1001, "never ahead of what was handed over");
    }

    #[test]
    fn scans_small_and_large_batches_with_and_without_crc() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = FileRecords::open(dir.path().join("0.log")).unwrap();
        let small = batch(3, 10);
        let large = batch(2, 5000);
        assert_eq!(records.append(&small).unwrap(), 0);
        assert_eq!(records.append(&large).unwrap(), small.len() as u64);
        records.append(&small).unwrap();
        let expected = vec![0, small.len() as u64, (small.len() + large.len()) as u64];
        for chunk in [64, 1024, 1 << 20] {
            for verify in [false, true] {
                let (positions, end) = scan_all(&records, chunk, verify);
                assert_eq!(positions, expected, "chunk {chunk} verify {verify}");
                assert!(matches!(end, Scanned::End));
            }
        }
    }

    #[test]
    fn reports_crc_damage_in_large_batches_and_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut records = FileRecords::open(path.clone()).unwrap();
        let large = batch(2, 5000);
        records.append(&large).unwrap();
        let mut damaged = large.clone();
        damaged[3000] ^= 1;
        records.append(&damaged).unwrap();
        records.append(&large[..100]).unwrap();
        let (positions, end) = scan_all(&records, 1024, false);
        assert_eq!(positions.len(), 2, "headers alone look fine");
        assert!(matches!(end, Scanned::Invalid { error: BatchError::Truncated { .. }, .. }));
        let (positions, end) = scan_all(&records, 1024, true);
        assert_eq!(positions, vec![0]);
        match end {
            Scanned::Invalid { position, error: BatchError::CorruptCrc { .. } } => {
                assert_eq!(position, large.len() as u64)
            }
            other => panic!("unexpected {other:?}"),
        }
        records.truncate_to(large.len() as u64).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), large.len() as u64);
    }
}
