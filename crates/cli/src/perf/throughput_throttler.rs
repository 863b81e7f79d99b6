//! Pacing of a sender to a target rate (Kafka's `ThroughputThrottler`).
//!
//! Kafka's throttler sleeps whenever the average rate so far is above the target.
//! This one keeps a schedule instead: record `n` is due at `start + n / rate`, so a
//! sender that fell behind (a slow poll, a full queue) catches up in a burst and the
//! average rate over the run is the target, while each wait is as short as the
//! operating system's timers allow.

use std::time::{Duration, Instant};

/// When each record of a paced run may be sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ThroughputThrottler {
    start: Instant,
    /// Time between two records; `None` for an unlimited rate.
    interval_ns: Option<f64>,
}

impl ThroughputThrottler {
    /// A schedule of `records_per_sec` starting at `start`; a negative rate (Kafka's
    /// `-1`) means no limit.
    ///
    /// # Errors
    /// When the rate is zero or not a number: Kafka would wait forever.
    pub(crate) fn new(records_per_sec: f64, start: Instant) -> Result<Self, String> {
        if records_per_sec.is_nan() || records_per_sec == 0.0 {
            return Err(format!("--throughput must be positive, or -1 for no limit (got {records_per_sec})"));
        }
        let interval_ns = (records_per_sec > 0.0).then(|| 1e9 / records_per_sec);
        Ok(ThroughputThrottler { start, interval_ns })
    }

    /// When record number `sent` (counting from 0) is due; `None` when unlimited.
    pub(crate) fn due(&self, sent: u64) -> Option<Instant> {
        let interval_ns = self.interval_ns?;
        let offset_ns = (sent as f64 * interval_ns).min(u64::MAX as f64) as u64;
        Some(self.start + Duration::from_nanos(offset_ns))
    }
}

/// Serves a producer's delivery reports until `due`, with `serve(timeout)` (which
/// waits up to `timeout` for an event). librdkafka's poll counts its timeout in whole
/// milliseconds, so a wait shorter than one (every wait at 10,000 records/s) would
/// return at once and spin a core; the last fraction is slept instead.
pub(crate) fn wait_until(due: Instant, mut serve: impl FnMut(Duration)) {
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let wait = due - now;
        if wait >= Duration::from_millis(1) {
            serve(wait);
        } else {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_records_evenly() {
        let start = Instant::now();
        let t = ThroughputThrottler::new(1000.0, start).unwrap();
        assert_eq!(t.due(0), Some(start));
        assert_eq!(t.due(1), Some(start + Duration::from_millis(1)));
        assert_eq!(t.due(2500), Some(start + Duration::from_millis(2500)));
    }

    #[test]
    fn minus_one_is_unlimited_and_zero_is_refused() {
        let start = Instant::now();
        assert_eq!(ThroughputThrottler::new(-1.0, start).unwrap().due(10), None);
        assert!(ThroughputThrottler::new(0.0, start).is_err());
        assert!(ThroughputThrottler::new(f64::NAN, start).is_err());
    }
}
