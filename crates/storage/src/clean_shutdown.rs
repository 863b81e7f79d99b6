//! The clean-shutdown marker: an empty file `.kafka_cleanshutdown` in the partition
//! directory (Kafka keeps one per log directory under the same name).
//!
//! [`Log::close`](crate::Log::close) creates it after everything is flushed and
//! checkpointed; [`Log::open`](crate::Log::open) deletes it (durably) before the log can
//! be written. Its presence at open therefore means the files were left by a clean
//! shutdown and need no batch-by-batch validation.
//!
//! Crash behaviour: created through a fsynced temporary file, a rename and a directory
//! fsync; a crash before that leaves no marker, which only causes a recovery.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::atomic_write::{replace_file, sync_dir};
use crate::error::{IoContext, LogError};

pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

fn marker_path(dir: &Path) -> PathBuf {
    dir.join(CLEAN_SHUTDOWN_FILE)
}

/// Whether the marker is present.
///
/// # Errors
/// [`LogError::Io`] if its presence cannot be determined.
pub(crate) fn is_marked_clean(dir: &Path) -> Result<bool, LogError> {
    let path = marker_path(dir);
    match fs::metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at(&path),
    }
}

/// Creates the marker durably.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn mark_clean(dir: &Path) -> Result<(), LogError> {
    replace_file(&marker_path(dir), b"")?;
    sync_dir(dir)
}

/// Removes the marker; the caller syncs the directory before writing to the log.
///
/// # Errors
/// [`LogError::Io`].
pub(crate) fn clear_clean_mark(dir: &Path) -> Result<(), LogError> {
    let path = marker_path(dir);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at(&path),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_marked_clean(dir.path()).unwrap());
        mark_clean(dir.path()).unwrap();
        assert!(is_marked_clean(dir.path()).unwrap());
        clear_clean_mark(dir.path()).unwrap();
        clear_clean_mark(dir.path()).unwrap();
        assert!(!is_marked_clean(dir.path()).unwrap());
    }
}
