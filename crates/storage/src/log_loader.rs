//! Opening a partition directory: removing leftovers, completing an interrupted swap of
//! cleaned segments, loading segments and recovering the unflushed tail after a crash
//! (Kafka's `LogLoader`).
//!
//! ```text
//!   segments:   [ 0 ][ 100 ][ 250 ][ 400 (active) ]
//!   recovery point:       ^ 180
//!   loaded (trusted):  0
//!   recovered:            180…   250    400      every batch validated, indexes rebuilt
//! ```
//!
//! With the clean-shutdown marker present nothing is recovered. Otherwise every batch
//! from the recovery point onwards is validated; the first invalid or partial batch
//! ends the log: its segment is truncated there and every later segment is deleted.
//! Trusted segments, and the part of the segment holding the recovery point below it,
//! only get their indexes sanity-checked (and rebuilt from every batch if they fail)
//! and the batches after their last index entry read.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use tracing::{info, warn};

use crate::clean_shutdown::is_marked_clean;
use crate::config::LogConfig;
use crate::error::{IoContext, LogError};
use crate::atomic_write::sync_dir;
use crate::file_names::{
    offset_file_path, parse_offset_file_name, with_added_suffix, INDEX_SUFFIX, LOG_SUFFIX, STRAY_SUFFIXES, SWAP_SUFFIX,
    TIME_INDEX_SUFFIX,
};
use crate::file_records::{FileRecords, Scanned};
use crate::recovery_checkpoint::read_recovery_point;
use crate::segment::{LogSegment, Truncation};

/// The segments of an opened directory and what is known about their durability.
pub(crate) struct LoadedLog {
    /// Never empty.
    pub(crate) segments: BTreeMap<i64, LogSegment>,
    pub(crate) recovery_point: i64,
    /// The recovery point the checkpoint file holds, if it could be read.
    pub(crate) checkpointed_recovery_point: Option<i64>,
    pub(crate) had_clean_shutdown: bool,
}

/// Opens `dir` (creating it if missing) and recovers it (see the module docs).
///
/// # Errors
/// [`LogError::Io`] on any file operation that fails. Damaged data is not an error: it
/// is cut off and logged with `tracing::warn`.
pub(crate) fn load(dir: &Path, config: &LogConfig, now_ms: i64) -> Result<LoadedLog, LogError> {
    fs::create_dir_all(dir).at(dir)?;
    let bases = clean_directory(dir)?;
    let had_clean_shutdown = is_marked_clean(dir)?;
    let checkpointed_recovery_point = match read_recovery_point(dir) {
        Ok(recovery_point) => recovery_point,
        Err(LogError::CorruptCheckpoint { path, reason }) => {
            warn!(path = %path.display(), %reason, "ignoring the corrupt recovery checkpoint; recovering the whole log");
            None
        }
        Err(e) => return Err(e),
    };
    let checkpoint = checkpointed_recovery_point.unwrap_or(0);
    let recover_from = if had_clean_shutdown {
        i64::MAX
    } else {
        // The segment containing the recovery point, or the first one.
        bases.iter().rev().find(|&&base| base <= checkpoint).or(bases.first()).copied().unwrap_or(0)
    };
    let mut segments = BTreeMap::new();
    for (i, &base) in bases.iter().enumerate() {
        if base < recover_from {
            let (segment, truncation) = LogSegment::load(dir, base, config, now_ms)?;
            if let Some(truncation) = truncation {
                report_truncation(&segment, &truncation);
            }
            segments.insert(base, segment);
            continue;
        }
        let (segment, truncation) = LogSegment::open_and_recover(dir, base, config, now_ms, checkpoint)?;
        let truncated = truncation.is_some();
        if let Some(truncation) = truncation {
            report_truncation(&segment, &truncation);
        }
        segments.insert(base, segment);
        if truncated {
            for &later in &bases[i + 1..] {
                warn!(dir = %dir.display(), base_offset = later, "deleting segment after the recovered end of the log");
                LogSegment::delete_files(dir, later)?;
            }
            break;
        }
    }
    if segments.is_empty() {
        segments.insert(0, LogSegment::create(dir, 0, config, now_ms)?);
    }
    for segment in segments.values_mut().rev().skip(1) {
        segment.seal()?;
    }
    let first_base = segments.keys().next().copied().unwrap_or(0);
    let log_end = segments.values().next_back().map_or(0, LogSegment::next_offset);
    let recovery_point = if had_clean_shutdown { log_end } else { checkpoint.min(log_end).max(first_base) };
    Ok(LoadedLog { segments, recovery_point, checkpointed_recovery_point, had_clean_shutdown })
}

fn report_truncation(segment: &LogSegment, truncation: &Truncation) {
    warn!(
        segment = %segment.log_path().display(),
        position = truncation.position,
        bytes_removed = truncation.bytes_removed,
        reason = %truncation.reason,
        log_end_offset = segment.next_offset(),
        "truncated the segment at an invalid or partial batch"
    );
}

/// Removes stray and orphaned files; returns the base offsets of the segments, ascending.
fn clean_directory(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    let mut swaps = Vec::new();
    let mut index_files = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        if !entry.file_type().at(&path)?.is_file() {
            continue;
        }
        if let Some(base) = name.strip_suffix(SWAP_SUFFIX).and_then(|log| parse_offset_file_name(log, LOG_SUFFIX)) {
            swaps.push(base);
        } else if STRAY_SUFFIXES.iter().chain([&SWAP_SUFFIX]).any(|suffix| name.ends_with(suffix)) {
            info!(path = %path.display(), "removing leftover file");
            remove_if_present(&path)?;
        } else if let Some(base) = parse_offset_file_name(&name, LOG_SUFFIX) {
            bases.push(base);
        } else if let Some(base) =
            parse_offset_file_name(&name, INDEX_SUFFIX).or_else(|| parse_offset_file_name(&name, TIME_INDEX_SUFFIX))
        {
            index_files.push((base, path));
        }
    }
    for swap in swaps {
        complete_swap(dir, swap, &mut bases)?;
    }
    bases.sort_unstable();
    bases.dedup();
    for (base, path) in index_files {
        if bases.binary_search(&base).is_err() {
            info!(path = %path.display(), "removing index file without a segment");
            remove_if_present(&path)?;
        }
    }
    Ok(bases)
}

/// Finishes a replacement by the log cleaner that a crash interrupted (Kafka's swap
/// recovery): `<base>.log.swap` was complete and fsynced before it got that name, so it
/// replaces every segment whose base offset lies in `[base, end of the swap)` (at least
/// the one at `base`). Old segments of the cleaned group beyond the swap's last offset
/// may survive; they hold valid, merely uncompacted, records.
///
/// A swap file with bytes that are not valid batches cannot have been written by the
/// cleaner: its valid prefix is used, and a swap without one is removed as junk.
fn complete_swap(dir: &Path, base: i64, bases: &mut Vec<i64>) -> Result<(), LogError> {
    let swap = with_added_suffix(&offset_file_path(dir, base, LOG_SUFFIX), SWAP_SUFFIX);
    let mut records = FileRecords::open(swap.clone())?;
    let mut scanner = records.scanner(0, 1024 * 1024);
    let mut end = base + 1;
    let invalid_at = loop {
        match scanner.next(true)? {
            Scanned::Batch { header, .. } => end = end.max(header.last_offset() + 1),
            Scanned::Invalid { position, error } => break Some((position, error)),
            Scanned::End => break None,
        }
    };
    if let Some((position, error)) = invalid_at {
        warn!(path = %swap.display(), position, %error, "swap file of the cleaner holds an invalid batch");
        if position == 0 {
            drop(records);
            return remove_if_present(&swap);
        }
        records.truncate_to(position)?;
        records.sync()?;
    }
    drop(records);
    info!(path = %swap.display(), replaced_below = end, "completing an interrupted swap of cleaned segments");
    for &old in bases.iter().filter(|&&old| old >= base && old < end) {
        LogSegment::delete_files(dir, old)?;
    }
    bases.retain(|&old| old < base || old >= end);
    LogSegment::delete_files(dir, base)?;
    let log_path = offset_file_path(dir, base, LOG_SUFFIX);
    fs::rename(&swap, &log_path).at(&log_path)?;
    sync_dir(dir)?;
    bases.push(base);
    Ok(())
}

/// Removes `path`; a file that is already gone is fine.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}
