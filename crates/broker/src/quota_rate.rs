//! The byte rate quotas are measured by: Kafka's `Rate` over a `SampledStat`, shared by
//! replication throttling ([`crate::replication_quota`]) and client quotas
//! ([`crate::client_quotas`]).
//!
//! Bytes are summed per window of `window` (one second by default); the last `windows`
//! windows (eleven) are kept, and the rate is their sum over their span, counted as at
//! least all windows but one. A first burst of up to ten seconds' worth therefore
//! measures within the bound, and a window just started does not count as an empty one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bytes recorded per window, oldest first.
#[derive(Debug)]
pub(crate) struct Rate {
    windows: usize,
    window: Duration,
    /// (window start, bytes recorded in it).
    recorded: VecDeque<(Instant, u64)>,
}

impl Rate {
    /// A rate over `windows` samples of `window` each.
    pub(crate) fn new(windows: usize, window: Duration) -> Self {
        Rate { windows: windows.max(1), window: window.max(Duration::from_millis(1)), recorded: VecDeque::new() }
    }

    pub(crate) fn record(&mut self, bytes: u64, now: Instant) {
        match self.recorded.back_mut() {
            Some((start, total)) if now.saturating_duration_since(*start) < self.window => *total += bytes,
            _ => {
                self.recorded.push_back((now, bytes));
                while self.recorded.len() > self.windows {
                    self.recorded.pop_front();
                }
            }
        }
    }

    /// Whether nothing recorded is left in the windows at `now`.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        self.recorded.back().is_none_or(|(start, _)| now.saturating_duration_since(*start) >= self.window * self.windows as u32)
    }

    /// Bytes per second over the samples kept.
    pub(crate) fn rate(&mut self, now: Instant) -> f64 {
        self.measure(now).0
    }

    /// The rate and the span it is measured over (Kafka's `Rate.windowSize`).
    pub(crate) fn measure(&mut self, now: Instant) -> (f64, Duration) {
        let span = self.window * self.windows as u32;
        while self.recorded.front().is_some_and(|(start, _)| now.saturating_duration_since(*start) >= span) {
            self.recorded.pop_front();
        }
        let oldest = self.recorded.front().map_or(now, |(start, _)| *start);
        let total: u64 = self.recorded.iter().map(|(_, bytes)| bytes).sum();
        let elapsed = now.saturating_duration_since(oldest).max(self.window * (self.windows as u32 - 1)).max(Duration::from_millis(1));
        (total as f64 / elapsed.as_secs_f64(), elapsed)
    }

    /// How long a client must wait for the rate to come down to `bound` (Kafka's
    /// `QuotaUtils.throttleTime`: the excess over the bound, as a share of the bound,
    /// times the span measured); zero at or below the bound.
    pub(crate) fn throttle_time(&mut self, bound: f64, now: Instant) -> Duration {
        let (rate, span) = self.measure(now);
        if rate <= bound || bound <= 0.0 {
            return Duration::ZERO;
        }
        span.mul_f64((rate - bound) / bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_time_brings_the_rate_back_to_the_bound() {
        // Kafka's example: 100 B/s measured against a bound of 50 over 3 windows of 1 s
        // (a 2 s span) is 2 s of throttle.
        let mut rate = Rate::new(3, Duration::from_secs(1));
        let start = Instant::now();
        rate.record(200, start);
        assert_eq!(rate.measure(start), (100.0, Duration::from_secs(2)));
        assert_eq!(rate.throttle_time(50.0, start), Duration::from_secs(2));
        assert_eq!(rate.throttle_time(100.0, start), Duration::ZERO);
        // Once the sample is older than the windows kept, it no longer counts.
        assert_eq!(rate.rate(start + Duration::from_secs(3)), 0.0);
    }
}
