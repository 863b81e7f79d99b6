//! The leader epoch checkpoint: `leader-epoch-checkpoint` in the partition directory
//! (Kafka's `LeaderEpochCheckpointFile`, same name and format).
//!
//! It persists the [`LeaderEpochCache`].
//!
//! Layout: UTF-8 text, lines ending in `\n`: the format version, the number of entries,
//! then one `epoch start_offset` line per entry (separated by whitespace), in increasing
//! order:
//!
//! ```text
//! 0          format version
//! 2          entry count
//! 0 0        epoch 0 starts at offset 0
//! 3 1500     epoch 3 starts at offset 1500
//! ```
//!
//! Crash behaviour: written to a temporary file, fsynced and renamed, and the directory
//! is fsynced. Entries of appended batches (and corrections made on open) are written
//! before the recovery point passes those batches (at the next flush), and truncations
//! at once, so the file never lacks an entry for a batch below the recovery point. It
//! may lack entries past it, or hold entries for batches lost in a crash: on open,
//! entries at or past the recovered log end are dropped, and after an unclean shutdown
//! the entries of the batches past the recovery point are derived again from their
//! headers. A missing or
//! unparsable file (or one whose entries are not increasing) is rebuilt from the headers
//! of every batch in the log, which holds the same information: each batch carries the
//! epoch of the leader that wrote it.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::atomic_write::replace_file;
use crate::error::{IoContext, LogError};
use crate::leader_epoch_cache::{EpochEntry, LeaderEpochCache};

pub(crate) const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
const VERSION: &str = "0";

pub(crate) fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(LEADER_EPOCH_CHECKPOINT_FILE)
}

/// Reads the cache; `None` if there is no checkpoint.
///
/// # Errors
/// [`LogError::CorruptCheckpoint`] if the file does not parse or its entries are not
/// increasing; [`LogError::Io`].
pub(crate) fn read_leader_epochs(dir: &Path) -> Result<Option<LeaderEpochCache>, LogError> {
    let path = checkpoint_path(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            return Err(LogError::CorruptCheckpoint { path, reason: "not UTF-8".into() })
        }
        Err(e) => return Err(e).at(&path),
    };
    parse(&text).map(Some).map_err(|reason| LogError::CorruptCheckpoint { path, reason })
}

fn parse(text: &str) -> Result<LeaderEpochCache, String> {
    let mut lines = text.split_terminator('\n');
    let version = lines.next().ok_or("empty file")?;
    if version != VERSION {
        return Err(format!("unknown version {version:?}"));
    }
    let count = lines.next().ok_or("no entry count")?;
    let count: usize = count.parse().map_err(|_| format!("invalid entry count {count:?}"))?;
    // The count is not trusted for allocation: entries are only as many as the lines.
    let mut entries = Vec::new();
    for line in lines {
        let mut fields = line.split_whitespace();
        let (Some(epoch), Some(start_offset), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(format!("malformed entry {line:?}"));
        };
        let epoch = epoch.parse().map_err(|_| format!("invalid epoch in {line:?}"))?;
        let start_offset = start_offset.parse().map_err(|_| format!("invalid start offset in {line:?}"))?;
        entries.push(EpochEntry { epoch, start_offset });
    }
    if entries.len() != count {
        return Err(format!("expected {count} entries, found {}", entries.len()));
    }
    LeaderEpochCache::from_entries(entries)
}

/// Writes the cache atomically (durable once the directory is synced).
///
/// # Errors
/// [`LogError::Io`]; the file then still holds its old content.
pub(crate) fn write_leader_epochs(dir: &Path, cache: &LeaderEpochCache) -> Result<(), LogError> {
    let mut text = format!("{VERSION}\n{}\n", cache.entries().len());
    for entry in cache.entries() {
        text.push_str(&format!("{} {}\n", entry.epoch, entry.start_offset));
    }
    replace_file(&checkpoint_path(dir), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_leader_epochs(dir.path()).unwrap(), None);
        let mut cache = LeaderEpochCache::default();
        write_leader_epochs(dir.path(), &cache).unwrap();
        assert_eq!(fs::read_to_string(checkpoint_path(dir.path())).unwrap(), "0\n0\n");
        assert_eq!(read_leader_epochs(dir.path()).unwrap(), Some(cache.clone()));
        cache.assign(0, 0);
        cache.assign(3, 1500);
        write_leader_epochs(dir.path(), &cache).unwrap();
        assert_eq!(fs::read_to_string(checkpoint_path(dir.path())).unwrap(), "0\n2\n0 0\n3 1500\n");
        assert_eq!(read_leader_epochs(dir.path()).unwrap(), Some(cache));
    }

    #[test]
    fn accepts_any_whitespace_between_fields() {
        let cache = parse("0\n2\n0  0\n3\t1500\n").unwrap();
        assert_eq!(cache.entries().len(), 2);
    }

    #[test]
    fn rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        for bad in [
            "", "1\n0\n", "0\n", "0\nx\n", "0\n1\n", "0\n1\n5\n", "0\n1\n5 6 7\n", "0\n1\na 6\n", "0\n2\n0 0\n",
            "0\n1\n0 0\n1 5\n", "0\n2\n3 10\n2 20\n", "0\n2\n2 10\n3 10\n", "0\n1\n-1 0\n",
        ] {
            fs::write(checkpoint_path(dir.path()), bad).unwrap();
            assert!(
                matches!(read_leader_epochs(dir.path()), Err(LogError::CorruptCheckpoint { .. })),
                "{bad:?} accepted"
            );
        }
        fs::write(checkpoint_path(dir.path()), [0xff, 0xfe]).unwrap();
        assert!(matches!(read_leader_epochs(dir.path()), Err(LogError::CorruptCheckpoint { .. })));
    }
}
