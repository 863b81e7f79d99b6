//! The recovery-point checkpoint: `recovery-point-offset-checkpoint` in the partition
//! directory.
//!
//! The recovery point is the offset below which every batch, and the indexes that point
//! at it, have been fsynced. After a crash only the segments from the one containing the
//! recovery point onwards are validated batch by batch. (Kafka keeps one such file per
//! log directory for all its partitions; Spool keeps one per partition, in Kafka's text
//! style.)
//!
//! Layout: UTF-8 text, two lines, each ending in `\n`:
//!
//! ```text
//! 0          format version
//! 12345      recovery point offset
//! ```
//!
//! Crash behaviour: written to a temporary file, fsynced and renamed, so the file is
//! either the old or the new checkpoint. A missing file means recovery point 0 (validate
//! everything); a file that does not parse is reported and treated the same way by the
//! loader, which is always safe: the recovery point only bounds work.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::atomic_write::replace_file;
use crate::error::{IoContext, LogError};

pub(crate) const RECOVERY_CHECKPOINT_FILE: &str = "recovery-point-offset-checkpoint";
const VERSION: &str = "0";

pub(crate) fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(RECOVERY_CHECKPOINT_FILE)
}

/// Reads the recovery point; `None` if there is no checkpoint.
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if the file does not parse; [`LogError::Io`].
pub(crate) fn read_recovery_point(dir: &Path) -> Result<Option<i64>, LogError> {
    read_offset_checkpoint(&checkpoint_path(dir))
}

/// Reads a file in this module's two-line format (also used by
/// [`crate::log_start_checkpoint`]); `None` if it does not exist.
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if the file does not parse; [`LogError::Io`].
pub(crate) fn read_offset_checkpoint(path: &Path) -> Result<Option<i64>, LogError> {
    let path = path.to_path_buf();
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            return Err(LogError::CorruptCheckpoint { path, reason: "not UTF-8".into() })
        }
        Err(e) => return Err(e).at(&path),
    };
    let corrupt = |reason: String| LogError::CorruptCheckpoint { path: path.clone(), reason };
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let [version, offset] = lines[..] else {
        return Err(corrupt(format!("expected 2 lines, found {}", lines.len())));
    };
    if version != VERSION {
        return Err(corrupt(format!("unknown version {version:?}")));
    }
    match offset.parse::<i64>() {
        Ok(offset) if offset >= 0 => Ok(Some(offset)),
        _ => Err(corrupt(format!("invalid offset {offset:?}"))),
    }
}

/// Writes the recovery point atomically (durable once the directory is synced).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn write_recovery_point(dir: &Path, recovery_point: i64) -> Result<(), LogError> {
    write_offset_checkpoint(&checkpoint_path(dir), recovery_point)
}

/// Writes `offset` to `path` in this module's format, atomically (durable once the
/// directory is synced).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn write_offset_checkpoint(path: &Path, offset: i64) -> Result<(), LogError> {
    replace_file(path, format!("{VERSION}\n{offset}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_recovery_point(dir.path()).unwrap(), None);
        write_recovery_point(dir.path(), 4242).unwrap();
        assert_eq!(read_recovery_point(dir.path()).unwrap(), Some(4242));
        for bad in ["", "0\n", "1\n5\n", "0\nfive\n", "0\n-3\n", "0\n5\n6\n"] {
            fs::write(checkpoint_path(dir.path()), bad).unwrap();
            assert!(
                matches!(read_recovery_point(dir.path()), Err(LogError::CorruptCheckpoint { .. })),
                "{bad:?} accepted"
            );
        }
    }
}
