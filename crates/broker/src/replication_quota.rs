//! Replication throttling (Kafka's `ReplicationQuotaManager`): a byte-rate bound on the
//! replication traffic of chosen partitions, so that copying a partition to a new broker
//! (`kafka-reassign-partitions --throttle`) leaves the disk and network to the clients.
//!
//! A broker has two quotas. The leader quota (`leader.replication.throttled.rate`)
//! counts what it sends to followers of the partitions its topics list in
//! `leader.replication.throttled.replicas`; the follower quota
//! (`follower.replication.throttled.rate`) counts what it fetches for those listed in
//! `follower.replication.throttled.replicas`. While a quota's rate is above its bound,
//! a leader answers an out-of-sync follower of a throttled partition with no records,
//! and a follower leaves its out-of-sync throttled partitions out of its fetches.
//! Replicas in the ISR are never held back: a throttle slows a copy, never the
//! acknowledgement of what producers write.
//!
//! The rate is Kafka's ([`Rate`]) over `replication.quota.window.num` samples of
//! `replication.quota.window.size.seconds` each. A new throttle therefore lets about
//! that many seconds' worth through at once before it holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use spool_metadata::config::ThrottledPartitions;

use crate::quota_rate::Rate;

/// One side's quota: the bound, the rate measured, and the partitions it applies to.
pub(crate) struct ReplicationQuota {
    /// Bytes per second; `i64::MAX` (the default) is no bound.
    bound: RwLock<i64>,
    samples: Mutex<Rate>,
    /// Topic name → the partitions throttled on this broker.
    throttled: RwLock<HashMap<String, ThrottledPartitions>>,
}

impl ReplicationQuota {
    /// A quota without a bound, measured over `windows` samples of `window` each.
    pub(crate) fn new(windows: usize, window: Duration) -> Self {
        ReplicationQuota {
            bound: RwLock::new(i64::MAX),
            samples: Mutex::new(Rate::new(windows, window)),
            throttled: RwLock::new(HashMap::new()),
        }
    }

    /// Sets the bound in bytes per second (`i64::MAX`: none).
    pub(crate) fn set_bound(&self, bytes_per_second: i64) {
        *self.bound.write() = bytes_per_second;
    }

    /// Sets the throttled partitions, by topic.
    pub(crate) fn set_throttled(&self, throttled: HashMap<String, ThrottledPartitions>) {
        *self.throttled.write() = throttled;
    }

    /// Whether the replication of `topic`-`partition` counts against this quota.
    pub(crate) fn is_throttled(&self, topic: &str, partition: i32) -> bool {
        let throttled = self.throttled.read();
        // Every replica fetch asks, per partition: without throttles, no hashing.
        !throttled.is_empty() && throttled.get(topic).is_some_and(|t| t.contains(partition))
    }

    /// Whether the rate measured at `now` is above the bound.
    pub(crate) fn is_exceeded(&self, now: Instant) -> bool {
        let bound = *self.bound.read();
        if bound == i64::MAX {
            return false;
        }
        let mut samples = self.samples.lock();
        samples.rate(now) > bound as f64
    }

    /// Counts `bytes` of throttled replication sent or fetched at `now`.
    pub(crate) fn record(&self, bytes: u64, now: Instant) {
        if bytes > 0 {
            self.samples.lock().record(bytes, now);
        }
    }
}

impl std::fmt::Debug for ReplicationQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationQuota")
            .field("bound", &*self.bound.read())
            .field("throttled", &*self.throttled.read())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(bound: i64) -> ReplicationQuota {
        let quota = ReplicationQuota::new(11, Duration::from_secs(1));
        quota.set_bound(bound);
        quota
    }

    #[test]
    fn without_a_bound_nothing_is_ever_exceeded() {
        let quota = quota(i64::MAX);
        let now = Instant::now();
        quota.record(u64::MAX / 2, now);
        assert!(!quota.is_exceeded(now));
    }

    #[test]
    fn the_rate_spans_all_windows_but_one_so_a_first_burst_of_that_much_passes() {
        // 1000 B/s over 11 windows of 1 s: up to 10,000 bytes pass at once.
        let quota = quota(1000);
        let start = Instant::now();
        quota.record(10_000, start);
        assert!(!quota.is_exceeded(start), "10,000 bytes over 10 s is the bound, not above it");
        quota.record(1, start);
        assert!(quota.is_exceeded(start));
        // Still above after 5 s (10,001 bytes over 10 s) ...
        assert!(quota.is_exceeded(start + Duration::from_secs(5)));
        // ... and below once the sample leaves the 11 windows.
        assert!(!quota.is_exceeded(start + Duration::from_secs(11)));
    }

    #[test]
    fn a_steady_flow_below_the_bound_is_let_through_and_twice_the_bound_is_not() {
        let below = quota(1000);
        let twice = quota(1000);
        let start = Instant::now();
        for second in 0..30 {
            let now = start + Duration::from_secs(second);
            below.record(900, now);
            twice.record(2000, now);
        }
        let end = start + Duration::from_millis(29_999);
        assert!(!below.is_exceeded(end));
        assert!(twice.is_exceeded(end));
    }

    #[test]
    fn only_the_listed_partitions_are_throttled() {
        let quota = quota(1);
        quota.set_throttled(HashMap::from([
            ("orders".to_string(), ThrottledPartitions::parse("0:1,1:2", 1).unwrap()),
            ("audit".to_string(), ThrottledPartitions::All),
        ]));
        assert!(quota.is_throttled("orders", 0));
        assert!(!quota.is_throttled("orders", 1));
        assert!(quota.is_throttled("audit", 9));
        assert!(!quota.is_throttled("other", 0));
        quota.set_throttled(HashMap::new());
        assert!(!quota.is_throttled("orders", 0));
    }
}
