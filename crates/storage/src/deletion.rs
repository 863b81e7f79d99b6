//! Deleting segments and whole partitions without waiting for the file system.
//!
//! Freeing a file takes the file system a while: removing a 1 GiB segment took 70-200 ms
//! on the development machine, and a partition of many segments takes longer. Segments
//! are deleted while the partition's log is locked (retention, truncation, compaction),
//! and partitions while metadata is applied, so neither waits for it. As Kafka does, what
//! is deleted is first renamed, which is quick, and the renamed files are removed on a
//! thread of its own ([`remove_in_background`]):
//! - a segment's files get the suffix `.deleted`; the log's next open removes any left
//!   behind (see `log_loader`);
//! - a partition directory becomes `<topic>-<partition>.<unique>-delete`, durably: from
//!   then on the partition is gone from its place (a topic created again under the same
//!   name starts empty). A crash before its removal leaves it behind;
//!   [`deleted_logs_in`] finds it at the next start. No partition directory ends in
//!   `-delete` (they end in `-<partition number>`), so the suffix alone marks one.

use std::fs;
use std::io::ErrorKind;
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
/// [`LogError::Io`] when the rename fails (the directory keeps its name) or the parent
/// directory cannot be synced (the rename may not survive a crash).
pub(crate) fn rename_dir_for_deletion(dir: &Path) -> Result<PathBuf, LogError> {
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

/// Removes `paths` (files and directories renamed for deletion, with everything in
/// them) on a new thread; the handle lets a caller wait. What cannot be removed is
/// logged and left for the next start. `None` if there is nothing to remove; if no
/// thread can be started they are removed before returning.
pub fn remove_in_background(paths: Vec<PathBuf>) -> Option<JoinHandle<()>> {
    if paths.is_empty() {
        return None;
    }
    let paths = Arc::new(paths);
    let on_thread = paths.clone();
    match std::thread::Builder::new().name("log-delete".into()).spawn(move || remove_all(&on_thread)) {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::warn!("could not start a thread to remove deleted files ({e}); removing them now");
            remove_all(&paths);
            None
        }
    }
}

fn remove_all(paths: &[PathBuf]) {
    for path in paths {
        let removed = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) => tracing::debug!(path = %path.display(), "removed"),
            // Removed meanwhile: a file renamed for deletion again replaces the earlier one.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => tracing::error!(path = %path.display(), "could not remove a deleted file ({e}); trying again at the next start"),
        }
    }
}
