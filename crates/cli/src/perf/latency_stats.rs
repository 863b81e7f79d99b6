//! Latency and throughput bookkeeping of the producer tool (Kafka's
//! `ProducerPerformance.Stats`) and the latency histogram shared with `e2e`.
//!
//! Every latency is recorded, not a sample: an HDR histogram in microseconds (1 µs to
//! one hour, 3 significant digits, about 200 KiB) costs a few nanoseconds per record.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Smallest latency the histogram resolves, in µs (a 0 µs latency counts as 1).
const LATENCY_US_MIN: u64 = 1;
/// Largest latency the histogram keeps apart, in µs; longer ones count as this.
const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Significant decimal digits kept per value.
const SIGNIFICANT_DIGITS: u8 = 3;
const BYTES_PER_MB: f64 = 1024.0 * 1024.0;

/// A histogram of latencies in microseconds.
pub(crate) struct LatencyHistogram {
    histogram: Histogram<u64>,
    total_us: u128,
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts; a failure is a bug here.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(LATENCY_US_MIN, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
            .expect("valid histogram bounds");
        LatencyHistogram { histogram, total_us: 0 }
    }

    /// Records one latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(us.clamp(LATENCY_US_MIN, LATENCY_US_MAX));
        self.total_us += u128::from(us);
    }

    /// How many latencies were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Mean latency in µs (exact, not from the buckets); 0 when empty.
    pub(crate) fn mean_us(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.total_us as f64 / n as f64,
        }
    }

    /// Largest latency in µs (to the histogram's precision); 0 when empty.
    pub(crate) fn max_us(&self) -> u64 {
        self.histogram.max()
    }

    /// The latency in µs that `quantile` (0..=1) of the records did not exceed.
    pub(crate) fn quantile_us(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }
}

/// Kafka's percentiles, in its output order.
pub(crate) const KAFKA_PERCENTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

/// Totals and the current reporting window of a producer run.
pub(crate) struct ProducerStats {
    start: Instant,
    histogram: LatencyHistogram,
    bytes: u64,
    max_latency: Duration,
    reporting_interval: Duration,
    window: Window,
}

/// Records acknowledged since the last progress line.
struct Window {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency: Duration,
    max_latency: Duration,
}

impl Window {
    fn new(start: Instant) -> Self {
        Window { start, count: 0, bytes: 0, total_latency: Duration::ZERO, max_latency: Duration::ZERO }
    }
}

impl ProducerStats {
    /// Stats of a run that starts at `start`, printing progress every `reporting_interval`.
    pub(crate) fn new(start: Instant, reporting_interval: Duration) -> Self {
        ProducerStats {
            start,
            histogram: LatencyHistogram::new(),
            bytes: 0,
            max_latency: Duration::ZERO,
            reporting_interval,
            window: Window::new(start),
        }
    }

    /// Records one acknowledged record; returns the progress line when a reporting
    /// interval has passed (and starts a new window), as Kafka's callback does.
    pub(crate) fn record(&mut self, latency: Duration, bytes: usize, now: Instant) -> Option<String> {
        self.histogram.record(latency);
        self.bytes += bytes as u64;
        self.max_latency = self.max_latency.max(latency);
        let window = &mut self.window;
        window.count += 1;
        window.bytes += bytes as u64;
        window.total_latency += latency;
        window.max_latency = window.max_latency.max(latency);
        if now.saturating_duration_since(window.start) < self.reporting_interval {
            return None;
        }
        let line = window_line(
            window.count,
            window.bytes,
            now.saturating_duration_since(window.start),
            window.total_latency,
            window.max_latency,
        );
        self.window = Window::new(now);
        Some(line)
    }

    /// Records acknowledged so far.
    pub(crate) fn count(&self) -> u64 {
        self.histogram.count()
    }

    /// The final line, with `now` as the end of the run.
    pub(crate) fn total_line(&self, now: Instant) -> String {
        let elapsed = now.saturating_duration_since(self.start);
        let count = self.count();
        let percentiles_ms = KAFKA_PERCENTILES.map(|q| self.histogram.quantile_us(q) / 1000);
        total_line(count, self.bytes, elapsed, self.histogram.mean_us() / 1000.0, self.max_latency, percentiles_ms)
    }
}

/// Seconds as a divisor: at least a microsecond, so an instant run prints numbers.
fn seconds(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64().max(1e-6)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Kafka's progress line:
/// `N records sent, X records/sec (Y MB/sec), Z ms avg latency, W ms max latency.`
pub(crate) fn window_line(count: u64, bytes: u64, elapsed: Duration, total_latency: Duration, max_latency: Duration) -> String {
    let secs = seconds(elapsed);
    let avg_ms = if count == 0 { 0.0 } else { ms(total_latency) / count as f64 };
    format!(
        "{count} records sent, {:.1} records/sec ({:.2} MB/sec), {avg_ms:.1} ms avg latency, {:.1} ms max latency.",
        count as f64 / secs,
        bytes as f64 / secs / BYTES_PER_MB,
        ms(max_latency),
    )
}

/// Kafka's final line: totals, average and maximum latency, and the 50th, 95th, 99th
/// and 99.9th percentiles in whole milliseconds.
pub(crate) fn total_line(
    count: u64,
    bytes: u64,
    elapsed: Duration,
    avg_latency_ms: f64,
    max_latency: Duration,
    percentiles_ms: [u64; 4],
) -> String {
    let secs = seconds(elapsed);
    let [p50, p95, p99, p999] = percentiles_ms;
    format!(
        "{count} records sent, {:.6} records/sec ({:.2} MB/sec), {avg_latency_ms:.2} ms avg latency, {:.2} ms max latency, \
         {p50} ms 50th, {p95} ms 95th, {p99} ms 99th, {p999} ms 99.9th.",
        count as f64 / secs,
        bytes as f64 / secs / BYTES_PER_MB,
        ms(max_latency),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_kafkas_shape() {
        let window = window_line(1000, 100_000, Duration::from_secs(2), Duration::from_millis(3000), Duration::from_millis(7));
        assert_eq!(window, "1000 records sent, 500.0 records/sec (0.05 MB/sec), 3.0 ms avg latency, 7.0 ms max latency.");
        let total = total_line(20_000, 2_000_000, Duration::from_secs(4), 1.5, Duration::from_millis(12), [1, 3, 9, 12]);
        assert_eq!(
            total,
            "20000 records sent, 5000.000000 records/sec (0.48 MB/sec), 1.50 ms avg latency, 12.00 ms max latency, \
             1 ms 50th, 3 ms 95th, 9 ms 99th, 12 ms 99.9th."
        );
    }

    #[test]
    fn a_window_closes_after_the_interval() {
        let start = Instant::now();
        let mut stats = ProducerStats::new(start, Duration::from_secs(5));
        assert!(stats.record(Duration::from_millis(2), 100, start + Duration::from_secs(1)).is_none());
        let line = stats.record(Duration::from_millis(4), 100, start + Duration::from_secs(5)).unwrap();
        assert!(line.starts_with("2 records sent, 0.4 records/sec"), "{line}");
        assert!(line.ends_with("3.0 ms avg latency, 4.0 ms max latency."), "{line}");
        assert!(stats.record(Duration::from_millis(1), 100, start + Duration::from_secs(6)).is_none());
        assert_eq!(stats.count(), 3);
        let total = stats.total_line(start + Duration::from_secs(10));
        assert!(total.starts_with("3 records sent, 0.300000 records/sec"), "{total}");
        assert!(total.contains("2.33 ms avg latency, 4.00 ms max latency, 2 ms 50th, 4 ms 95th"), "{total}");
    }

    #[test]
    fn histogram_quantiles_are_in_microseconds() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.quantile_us(0.5), 500);
        assert_eq!(h.quantile_us(0.99), 990);
        assert_eq!(h.max_us(), 1000);
        assert!((h.mean_us() - 500.5).abs() < 1e-9);
        // Zero and huge latencies are clamped, not dropped.
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(10 * 3600));
        assert_eq!(h.count(), 1002);
    }
}
