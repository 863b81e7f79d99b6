//! Names of the files in a partition directory.
//!
//! Segment files and producer snapshots are named by a 20-digit zero-padded offset, as
//! in Kafka, so that a directory listing sorts them in log order.

use std::path::{Path, PathBuf};

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snapshot";
/// A segment file being deleted: renamed first so a crash cannot bring it back.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
/// A file being written before an atomic rename.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// A segment the log cleaner is writing; removed by recovery (the old segments stay).
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// A cleaned segment that replaces the old ones; recovery completes the replacement.
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// Suffixes of leftovers that recovery removes (`.log.swap` files are completed instead).
pub(crate) const STRAY_SUFFIXES: [&str; 3] = [DELETED_SUFFIX, CLEANED_SUFFIX, TMP_SUFFIX];

/// `00000000000000000042.log` for offset 42 and suffix `.log`.
pub(crate) fn offset_file_name(offset: i64, suffix: &str) -> String {
    format!("{offset:020}{suffix}")
}

pub(crate) fn offset_file_path(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(offset_file_name(offset, suffix))
}

/// The offset in a name made by [`offset_file_name`] with this suffix, if it is one.
pub(crate) fn parse_offset_file_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `path` with `suffix` appended to its file name (`a.log` -> `a.log.deleted`).
pub(crate) fn with_added_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(offset_file_name(42, LOG_SUFFIX), "00000000000000000042.log");
        assert_eq!(parse_offset_file_name("00000000000000000042.log", LOG_SUFFIX), Some(42));
        assert_eq!(parse_offset_file_name("00000000000000000042.index", LOG_SUFFIX), None);
        assert_eq!(parse_offset_file_name("42.log", LOG_SUFFIX), None);
        assert_eq!(parse_offset_file_name("0000000000000000004x.log", LOG_SUFFIX), None);
        assert_eq!(parse_offset_file_name("00000000000000000042.log.deleted", LOG_SUFFIX), None);
    }

    #[test]
    fn adds_suffix_to_file_name() {
        let path = with_added_suffix(Path::new("/d/00000000000000000000.log"), DELETED_SUFFIX);
        assert_eq!(path, Path::new("/d/00000000000000000000.log.deleted"));
    }
}
