//! The log start offset checkpoint: `log-start-offset-checkpoint` in the partition
//! directory.
//!
//! The log start offset is the first offset a reader may fetch. Retention moves it to
//! the base offset of the first remaining segment, which the segment files already
//! record; DeleteRecords ([`Log::advance_log_start_offset`](crate::Log::advance_log_start_offset))
//! can move it into the middle of the first segment, and only this file remembers that.
//! (Kafka keeps one such file per log directory for all its partitions; Spool keeps one
//! per partition.)
//!
//! Layout: the recovery checkpoint's ([`crate::recovery_checkpoint`]): UTF-8 text, two
//! lines, each ending in `\n`:
//!
//! ```text
//! 0          format version
//! 12345      log start offset
//! ```
//!
//! On open, the log start is the larger of this offset and the first segment's base
//! offset (retention does not rewrite the file, so it may lag behind), but at most the
//! log end. The file is written only when that rule would otherwise give a wrong answer:
//! when DeleteRecords moves the start into a segment, and when a truncation lowers it.
//!
//! Crash behaviour: written to a temporary file, fsynced and renamed, and the directory
//! fsynced, before the segments below the new start are deleted. A missing file means
//! the first segment's base offset; a file that does not parse is reported and treated
//! the same way, which can only make records that DeleteRecords hid readable again.

use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::recovery_checkpoint::{read_offset_checkpoint, write_offset_checkpoint};

pub(crate) const LOG_START_CHECKPOINT_FILE: &str = "log-start-offset-checkpoint";

pub(crate) fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(LOG_START_CHECKPOINT_FILE)
}

/// Reads the log start offset; `None` if there is no checkpoint.
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if the file does not parse; [`LogError::Io`].
pub(crate) fn read_log_start_offset(dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_checkpoint(&checkpoint_path(dir))
}

/// Writes the log start offset atomically (durable once the directory is synced).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn write_log_start_offset(dir: &Path, log_start_offset: i64) -> Result<(), LogError> {
    write_offset_checkpoint(&checkpoint_path(dir), log_start_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), None);
        write_log_start_offset(dir.path(), 77).unwrap();
        assert_eq!(read_log_start_offset(dir.path()).unwrap(), Some(77));
        assert_eq!(std::fs::read_to_string(checkpoint_path(dir.path())).unwrap(), "0\n77\n");
        std::fs::write(checkpoint_path(dir.path()), "0\n").unwrap();
        assert!(matches!(read_log_start_offset(dir.path()), Err(LogError::CorruptCheckpoint { .. })));
    }
}
