//! The cleaner checkpoint: `cleaner-offset-checkpoint` in the partition directory.
//!
//! The log cleaner has compacted everything below this offset (the first dirty offset,
//! Kafka's per-log-dir `cleaner-offset-checkpoint` entry; Spool keeps one file per
//! partition). The next cleaning builds its key map from here on only.
//!
//! Layout: the recovery checkpoint's ([`crate::recovery_checkpoint`]): UTF-8 text, two
//! lines, each ending in `\n`:
//!
//! ```text
//! 0          format version
//! 12345      first dirty offset
//! ```
//!
//! Crash behaviour: written to a temporary file, fsynced and renamed after the cleaned
//! segments are in place, so it never claims more than was cleaned. A missing or damaged
//! file, or an offset outside the log, means the log start: everything is dirty again,
//! which costs work but never loses records. Truncation below it lowers it.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::error::LogError;
use crate::log_loader::remove_if_present;
use crate::recovery_checkpoint::{read_offset_checkpoint, write_offset_checkpoint};

pub(crate) const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";

fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(CLEANER_CHECKPOINT_FILE)
}

/// The checkpointed first dirty offset; `None` if there is none or it is damaged (reported).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn read_first_dirty_offset(dir: &Path) -> Result<Option<i64>, LogError> {
    match read_offset_checkpoint(&checkpoint_path(dir)) {
        Err(LogError::CorruptCheckpoint { path, reason }) => {
            warn!(path = %path.display(), %reason, "ignoring the damaged cleaner checkpoint; the whole log is dirty");
            Ok(None)
        }
        other => other,
    }
}

/// Writes the first dirty offset atomically (durable once the directory is synced).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn write_first_dirty_offset(dir: &Path, offset: i64) -> Result<(), LogError> {
    write_offset_checkpoint(&checkpoint_path(dir), offset)
}

/// Removes the checkpoint (everything is dirty again).
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn delete_first_dirty_offset(dir: &Path) -> Result<(), LogError> {
    remove_if_present(&checkpoint_path(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_first_dirty_offset(dir.path()).unwrap(), None);
        write_first_dirty_offset(dir.path(), 42).unwrap();
        assert_eq!(read_first_dirty_offset(dir.path()).unwrap(), Some(42));
        assert_eq!(std::fs::read_to_string(checkpoint_path(dir.path())).unwrap(), "0\n42\n");
        std::fs::write(checkpoint_path(dir.path()), "0\nx\n").unwrap();
        assert_eq!(read_first_dirty_offset(dir.path()).unwrap(), None);
        delete_first_dirty_offset(dir.path()).unwrap();
        delete_first_dirty_offset(dir.path()).unwrap();
        assert_eq!(read_first_dirty_offset(dir.path()).unwrap(), None);
    }
}
