//! Replacing small files so that a crash leaves either the old or the new content.
//!
//! The content goes to `<name>.tmp`, which is fsynced and renamed over `<name>`. The
//! rename becomes durable when the directory is fsynced ([`sync_dir`]); callers that
//! write several files sync the directory once at the end.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, LogError};
use crate::file_names::{with_added_suffix, TMP_SUFFIX};

/// Writes `bytes` to `path` through a fsynced temporary file and a rename. The directory
/// is not synced.
///
/// # Errors
/// [`LogError::Io`] from any step; `path` then still holds its old content.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    let tmp = with_added_suffix(path, TMP_SUFFIX);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp).at(&tmp)?;
    file.write_all(bytes).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    drop(file);
    fs::rename(&tmp, path).at(path)
}

/// Makes creations, renames and removals of the directory's entries durable.
///
/// # Errors
/// [`LogError::Io`] if the directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).at(dir)?.sync_all().at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        replace_file(&path, b"one").unwrap();
        replace_file(&path, b"two").unwrap();
        sync_dir(dir.path()).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
