//! Records named by where they lie in a segment file instead of read into memory.
//!
//! A fetch answers with whole batches of one or more segments. [`LogSlices`] names them
//! as (file, position, length) runs, so the broker can send them from the page cache
//! straight to the socket (`sendfile`), as Kafka does with `FileRecords.writeTo`: the
//! bytes never pass through the broker's memory.
//!
//! A slice holds the segment's open file. A segment deleted by retention or replaced by
//! the cleaner stays readable through it (the file is unlinked, not gone). Only a
//! truncation (a follower cutting a divergent tail) can shorten the file under a slice;
//! a reader then gets fewer bytes than the slice promised and must treat the transfer as
//! failed (see [`FileSlice::read_into`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// Whole batches of one segment file: `len` bytes from `position`.
#[derive(Clone, Debug)]
pub struct FileSlice {
    file: Arc<File>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, position: u64, len: usize) -> Self {
        FileSlice { file, position, len }
    }

    /// The segment file the bytes are in.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the bytes start in the file.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the bytes to `out`.
    ///
    /// # Errors
    /// The read error; `UnexpectedEof` when the file was truncated under the slice.
    /// `out` is unchanged on error.
    pub fn read_into(&self, out: &mut BytesMut) -> io::Result<()> {
        let old_len = out.len();
        out.resize(old_len + self.len, 0);
        let read = self.file.read_exact_at(&mut out[old_len..], self.position);
        if read.is_err() {
            out.truncate(old_len);
        }
        read
    }
}

/// What a log read found: whole batches in offset order, as slices of consecutive
/// segments (empty when there was nothing to read).
#[derive(Clone, Debug, Default)]
pub struct LogSlices {
    slices: Vec<FileSlice>,
    len: usize,
    pub(crate) at_byte_limit: bool,
}

impl LogSlices {
    pub(crate) fn push(&mut self, slice: FileSlice) {
        self.len += slice.len;
        self.slices.push(slice);
    }

    /// Bytes in all slices together.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn slices(&self) -> &[FileSlice] {
        &self.slices
    }

    /// Whether the read stopped at its byte limit with a batch left below its offset
    /// limit: more was there to read than the limit let through (a fetch counts the
    /// limit as available, as Kafka counts the bytes up to the high watermark).
    pub fn at_byte_limit(&self) -> bool {
        self.at_byte_limit
    }

    /// Reads every slice into one buffer, for callers that decode the records.
    ///
    /// # Errors
    /// See [`FileSlice::read_into`].
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        let mut out = BytesMut::with_capacity(self.len);
        for slice in &self.slices {
            slice.read_into(&mut out)?;
        }
        Ok(out.freeze())
    }
}
