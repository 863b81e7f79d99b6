//! Deleting a whole partition directory (topic deletion) without waiting for it.
//!
//! Removing a log of many gigabytes takes the file system a while, and the caller
//! applies metadata: it must not wait. As Kafka does, the directory is first renamed,
//! durably, to `<topic>-<partition>.<unique>-delete`: from then on the partition is gone
//! from its place (a topic created again under the same name starts empty), and the
//! renamed directory is removed on a thread of its own. A crash before that leaves the
//! renamed directory behind; [`deleted_logs_in`] finds it at the next start.
//!
//! No partition directory ends in `-delete` (they end in `-<partition number>`), so the
//! suffix alone marks a directory as deleted.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic_write::sync_dir;
use crate::error::{IoContext, LogError};

/// The suffix of a partition directory renamed for deletion.
const DELETED_DIR_SUFFIX: &str = "-delete";

/// Renames the partition directory `dir` for deletion (see the module docs) and returns
/// the new path.
///
/// # Errors
/// [`LogError::Io`] when the rename or the sync of the parent directory fails; the
/// directory then keeps its name.
pub(crate) fn rename_for_deletion(dir: &Path) -> Result<PathBuf, LogError> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let unique = format!("{nanos:x}{:x}", COUNT.fetch_add(1, Ordering::Relaxed));
    let renamed = dir.with_file_name(format!("{name}.{unique}{DELETED_DIR_SUFFIX}"));
    fs::rename(dir, &renamed).at(dir)?;
    if let Some(parent) = renamed.parent() {
        sync_dir(parent)?;
    }
    Ok(renamed)
}

/// The directories in `data_dir` that were renamed for deletion and are still there
/// (a crash, or a stop, came before their removal).
///
/// # Errors
/// [`LogError::Io`] when `data_dir` cannot be listed.
pub fn deleted_logs_in(data_dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(data_dir).at(data_dir)? {
        let entry = entry.at(data_dir)?;
        let is_deleted = entry.file_name().to_str().is_some_and(|name| name.ends_with(DELETED_DIR_SUFFIX));
        if is_deleted && entry.file_type().at(&entry.path())?.is_dir() {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// Removes `dirs` (directories renamed for deletion) with everything in them, on a new
/// thread; the handle lets a caller wait. A directory that cannot be removed is logged
/// and left for the next start. `None` if there is nothing to remove; if no thread can be
/// started they are removed before returning.
pub fn remove_deleted_logs(dirs: Vec<PathBuf>) -> Option<JoinHandle<()>> {
    if dirs.is_empty() {
        return None;
    }
    let dirs = Arc::new(dirs);
    let on_thread = dirs.clone();
    match std::thread::Builder::new().name("log-delete".into()).spawn(move || remove_all(&on_thread)) {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::warn!("could not start a thread to remove deleted logs ({e}); removing them now");
            remove_all(&dirs);
            None
        }
    }
}

fn remove_all(dirs: &[PathBuf]) {
    for dir in dirs {
        match fs::remove_dir_all(dir) {
            Ok(()) => tracing::debug!(dir = %dir.display(), "removed deleted log"),
            Err(e) => tracing::error!(dir = %dir.display(), "could not remove a deleted log ({e}); trying again at the next start"),
        }
    }
}
