//! Client quotas (Kafka's `ClientQuotaManager` for produce and fetch): a client whose
//! byte rate goes above its `producer_byte_rate` or `consumer_byte_rate` is throttled.
//!
//! Which quota applies, and whose rate it is measured over, is
//! [`spool_metadata::quota`]'s decision; this module measures and throttles. As in Kafka
//! (KIP-219), a throttled client gets its response at once, carrying `throttle_time_ms`,
//! and its connection is muted for that long: the broker reads no further request from
//! it until then. A produce is appended before it is counted. A fetch from a consumer
//! already over its quota is answered at once with no records; otherwise it is served,
//! counted, and throttled if that took the consumer over. (Kafka instead answers with no
//! records any fetch whose answer would go over the quota, so a consumer whose quota
//! over the measuring span is smaller than one record batch never gets it.) No fetch
//! asks for more than the quota lets through in one measuring span. Followers' fetches
//! never count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use spool_metadata::quota::{AppliedQuota, QuotaKey, QuotaTable, CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE};

use crate::quota_rate::Rate;

/// A throttle as a response's `throttle_time_ms`.
pub(crate) fn throttle_time_ms(throttle: Duration) -> i32 {
    throttle.as_millis().min(i32::MAX as u128) as i32
}

/// The broker's client quotas and the rates measured against them.
pub(crate) struct ClientQuotas {
    table: RwLock<QuotaTable>,
    produce: Mutex<Rates>,
    fetch: Mutex<Rates>,
    windows: usize,
    window: Duration,
}

impl ClientQuotas {
    /// No quotas yet; rates over `windows` samples of `window` (`quota.window.num`,
    /// `quota.window.size.seconds`).
    pub(crate) fn new(windows: usize, window: Duration) -> Self {
        ClientQuotas {
            table: RwLock::new(QuotaTable::default()),
            produce: Mutex::new(Rates::default()),
            fetch: Mutex::new(Rates::default()),
            windows: windows.max(1),
            window: window.max(Duration::from_millis(1)),
        }
    }

    /// Takes the quotas of a new metadata image.
    pub(crate) fn set_quotas(&self, table: QuotaTable) {
        *self.table.write() = table;
    }

    /// Counts a produce request of `bytes` from `client_id` of `user` (the connection's
    /// principal); the time to throttle it (zero when within its quota or without one).
    pub(crate) fn record_produce(&self, user: &str, client_id: &str, bytes: usize, now: Instant) -> Duration {
        match self.lookup(PRODUCER_BYTE_RATE, user, client_id) {
            Some(quota) => self.record(&self.produce, &quota, bytes, now),
            None => Duration::ZERO,
        }
    }

    /// The `consumer_byte_rate` quota a fetch from `client_id` of `user` counts against, if any:
    /// looked up once per fetch, for [`ClientQuotas::fetch_throttle`],
    /// [`ClientQuotas::fetch_max_bytes`] and [`ClientQuotas::record_fetch`].
    pub(crate) fn fetch_quota(&self, user: &str, client_id: &str) -> Option<AppliedQuota> {
        self.lookup(CONSUMER_BYTE_RATE, user, client_id)
    }

    /// How long a consumer is still throttled for the fetches it was sent: a fetch
    /// asked meanwhile gets no records.
    pub(crate) fn fetch_throttle(&self, quota: &AppliedQuota, now: Instant) -> Duration {
        self.fetch.lock().rates.get_mut(&quota.key).map_or(Duration::ZERO, |rate| rate.throttle_time(quota.bound, now))
    }

    /// The most record bytes a fetch under `quota` may ask for: what the quota lets
    /// through over the measuring span (Kafka's `getMaxValueInQuotaWindow`).
    pub(crate) fn fetch_max_bytes(&self, quota: &AppliedQuota) -> usize {
        let span = self.window.as_secs_f64() * (self.windows - 1).max(1) as f64;
        (quota.bound * span).min(i32::MAX as f64) as usize
    }

    /// Counts a fetch answer of `bytes` under `quota`; the time to throttle the consumer
    /// when that takes it over its quota.
    pub(crate) fn record_fetch(&self, quota: &AppliedQuota, bytes: usize, now: Instant) -> Duration {
        self.record(&self.fetch, quota, bytes, now)
    }

    fn record(&self, rates: &Mutex<Rates>, quota: &AppliedQuota, bytes: usize, now: Instant) -> Duration {
        let mut rates = rates.lock();
        let rate = rates.entry(&quota.key, now, || Rate::new(self.windows, self.window));
        rate.record(bytes as u64, now);
        rate.throttle_time(quota.bound, now)
    }

    fn lookup(&self, key: &str, user: &str, client_id: &str) -> Option<AppliedQuota> {
        let table = self.table.read();
        // Every produce and fetch asks: without quotas, no lookups.
        if table.is_empty() {
            return None;
        }
        table.lookup(key, user, client_id)
    }
}

/// The rates of one quota, by whom they measure. Rates with nothing left in their
/// windows are dropped once the map has doubled since it was last cleared of them (as
/// Kafka expires idle quota sensors), so clients that come and go leave nothing behind.
#[derive(Default)]
struct Rates {
    rates: HashMap<QuotaKey, Rate>,
    /// The size at which idle rates are next dropped.
    purge_at: usize,
}

impl Rates {
    fn entry(&mut self, key: &QuotaKey, now: Instant, new: impl FnOnce() -> Rate) -> &mut Rate {
        if !self.rates.contains_key(key) && self.rates.len() >= self.purge_at {
            self.rates.retain(|_, rate| !rate.is_idle(now));
            self.purge_at = (self.rates.len() * 2).max(64);
        }
        self.rates.entry(key.clone()).or_insert_with(new)
    }
}

#[cfg(test)]
mod tests {
    use spool_metadata::quota::ANONYMOUS_USER;
    use spool_metadata::records::{ConfigRecord, ConfigResource, MetadataRecord, QuotaEntity, QuotaName};
    use spool_metadata::MetadataImage;

    use super::*;

    fn quotas(entries: &[(QuotaEntity, &str, f64)]) -> ClientQuotas {
        let mut image = MetadataImage::default();
        for (entity, key, rate) in entries {
            image.replay(&MetadataRecord::Config(ConfigRecord {
                resource: ConfigResource::ClientQuota(entity.clone()),
                name: key.to_string(),
                value: Some(rate.to_string()),
            }));
        }
        let quotas = ClientQuotas::new(11, Duration::from_secs(1));
        quotas.set_quotas(QuotaTable::from_image(&image));
        quotas
    }

    fn client(name: Option<&str>) -> QuotaEntity {
        QuotaEntity { user: None, client_id: Some(QuotaName::from_option(name)) }
    }

    #[test]
    fn a_producer_over_its_quota_is_throttled_for_the_excess() {
        let quotas = quotas(&[(client(Some("app")), PRODUCER_BYTE_RATE, 1000.0)]);
        let now = Instant::now();
        // 10 s' worth passes at once (the span is at least 10 windows) ...
        assert_eq!(quotas.record_produce(ANONYMOUS_USER, "app", 10_000, now), Duration::ZERO);
        // ... 5,000 more is half again the bound: half of the 10 s span.
        assert_eq!(quotas.record_produce(ANONYMOUS_USER, "app", 5_000, now), Duration::from_secs(5));
        assert_eq!(quotas.record_produce(ANONYMOUS_USER, "other", 1_000_000, now), Duration::ZERO, "no quota applies to others");
        assert!(quotas.fetch_quota(ANONYMOUS_USER, "app").is_none(), "nor to fetches");
    }

    #[test]
    fn a_user_quota_applies_to_that_users_connections_whatever_their_client_id() {
        let alice = QuotaEntity { user: Some(QuotaName::from_option(Some("alice"))), client_id: None };
        let quotas = quotas(&[(alice, PRODUCER_BYTE_RATE, 1000.0)]);
        let now = Instant::now();
        assert_eq!(quotas.record_produce("alice", "a", 10_000, now), Duration::ZERO);
        // The same user's rate, through another client id.
        assert_eq!(quotas.record_produce("alice", "b", 5_000, now), Duration::from_secs(5));
        assert_eq!(quotas.record_produce("bob", "a", 1_000_000, now), Duration::ZERO, "not another user's");
        assert_eq!(quotas.record_produce(ANONYMOUS_USER, "a", 1_000_000, now), Duration::ZERO);
    }

    #[test]
    fn default_quotas_are_per_client_and_a_fetch_over_the_quota_throttles_the_next() {
        let quotas = quotas(&[(client(None), CONSUMER_BYTE_RATE, 100.0)]);
        let now = Instant::now();
        let a = quotas.fetch_quota(ANONYMOUS_USER, "a").expect("the default applies to a");
        assert_eq!(quotas.fetch_max_bytes(&a), 1000);
        assert_eq!(quotas.fetch_throttle(&a, now), Duration::ZERO);
        assert_eq!(quotas.record_fetch(&a, 1000, now), Duration::ZERO);
        assert_eq!(quotas.fetch_throttle(&a, now), Duration::ZERO, "at the bound, not over it");
        assert_eq!(quotas.record_fetch(&a, 500, now), Duration::from_secs(5));
        assert_eq!(quotas.fetch_throttle(&a, now), Duration::from_secs(5), "the next fetch is throttled");
        // Client "b" has a default quota of its own.
        let b = quotas.fetch_quota(ANONYMOUS_USER, "b").expect("the default applies to b");
        assert_eq!(quotas.fetch_throttle(&b, now), Duration::ZERO);
        assert_eq!(quotas.record_fetch(&b, 1000, now), Duration::ZERO);
        quotas.set_quotas(QuotaTable::default());
        assert!(quotas.fetch_quota(ANONYMOUS_USER, "a").is_none(), "removed quotas no longer apply");
    }

    #[test]
    fn rates_of_clients_gone_idle_are_dropped() {
        let quotas = quotas(&[(client(None), PRODUCER_BYTE_RATE, 100.0)]);
        let start = Instant::now();
        // Idle rates are looked for at 64, 128 and 256 rates: none is idle yet.
        for i in 0..256 {
            quotas.record_produce(ANONYMOUS_USER, &format!("client-{i}"), 10, start);
        }
        assert_eq!(quotas.produce.lock().rates.len(), 256, "all active");
        // Once their samples have left the 11 windows, the next new client clears them out.
        let later = start + Duration::from_secs(12);
        quotas.record_produce(ANONYMOUS_USER, "late", 10, later);
        assert_eq!(quotas.produce.lock().rates.len(), 1);
        assert_eq!(quotas.record_produce(ANONYMOUS_USER, "late", 5000, later), Duration::from_millis(40_100), "its own rate still counts");
    }
}
