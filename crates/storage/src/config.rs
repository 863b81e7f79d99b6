//! The per-topic configuration a [`Log`](crate::Log) obeys.

/// Effective per-topic log configuration, built by the broker from topic overrides and
/// broker defaults. Field names are Kafka's config names with units last; defaults are
/// Kafka 3.9's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size.
    /// Positions in the offset index are 32-bit, so values above `i32::MAX` act as `i32::MAX`.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: the largest offset or time index file; the segment rolls
    /// when either is full.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of batches between two offset index entries.
    pub index_interval_bytes: u64,
    /// `retention.ms`: delete segments whose newest record is older than this; -1 keeps
    /// them forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger; -1 = no limit.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync once this many records are unflushed (1 = every append).
    pub flush_interval_messages: u64,
    /// `flush.ms`: fsync when the last flush is this old ([`Log::flush_if_due`](crate::Log::flush_if_due)).
    pub flush_interval_ms: i64,
    /// `producer.id.expiration.ms` (a broker config in Kafka): forget an idempotent
    /// producer this long after its last batch's timestamp
    /// ([`Log::remove_expired_producers`](crate::Log::remove_expired_producers)).
    pub producer_id_expiration_ms: i64,
    /// `cleanup.policy` contains `delete`: [`Log::enforce_retention`](crate::Log::enforce_retention)
    /// deletes by `retention.ms` and `retention.bytes`. Without it only the segments below a
    /// log start moved by DeleteRecords go, as in Kafka.
    pub delete: bool,
    /// `cleanup.policy` contains `compact`: the log cleaner may rewrite the log
    /// ([`Log::clean`](crate::Log::clean)).
    pub compact: bool,
    /// `delete.retention.ms`: how long a tombstone stays once the cleaner has first seen it
    /// (its batch's delete horizon).
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: a segment whose newest record is younger than this is not
    /// cleaned yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest uncleaned segment started longer ago
    /// than this is cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean when the dirty share of the cleanable log exceeds this.
    pub min_cleanable_dirty_ratio: f64,
    /// `preallocate`: reserve `segment.bytes` of disk for the active segment when it is
    /// created (or opened as the active one), given back when it stops being active.
    pub preallocate: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            segment_index_bytes: 10_485_760,
            index_interval_bytes: 4096,
            retention_ms: 604_800_000,
            retention_bytes: -1,
            flush_interval_messages: i64::MAX as u64,
            flush_interval_ms: i64::MAX,
            producer_id_expiration_ms: 86_400_000,
            delete: true,
            compact: false,
            delete_retention_ms: 86_400_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            preallocate: false,
        }
    }
}

impl LogConfig {
    /// `segment.bytes` clamped to what 32-bit file positions can address.
    pub(crate) fn segment_bytes_max(&self) -> u64 {
        self.segment_bytes.min(i32::MAX as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1 << 30);
        assert_eq!(config.segment_ms, 7 * 24 * 3600 * 1000);
        assert_eq!(config.segment_index_bytes, 10 * 1024 * 1024);
        assert_eq!(config.index_interval_bytes, 4096);
        assert_eq!(config.retention_ms, 7 * 24 * 3600 * 1000);
        assert_eq!(config.retention_bytes, -1);
        assert_eq!(config.flush_interval_messages, i64::MAX as u64);
        assert_eq!(config.flush_interval_ms, i64::MAX);
        assert!(config.delete && !config.compact);
        assert_eq!(config.delete_retention_ms, 24 * 3600 * 1000);
        assert_eq!((config.min_compaction_lag_ms, config.max_compaction_lag_ms), (0, i64::MAX));
        assert_eq!(config.min_cleanable_dirty_ratio, 0.5);
        assert!(!config.preallocate);
    }

    #[test]
    fn segment_bytes_is_clamped_to_32_bit_positions() {
        let config = LogConfig { segment_bytes: u64::MAX, ..LogConfig::default() };
        assert_eq!(config.segment_bytes_max(), i32::MAX as u64);
    }
}
