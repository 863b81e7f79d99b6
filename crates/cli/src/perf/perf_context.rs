//! librdkafka client contexts of the perf tools.
//!
//! Both wrap the console tools' [`ToolContext`] for logging (quiet while starting,
//! warnings once running) and add what a measurement needs: the producer's delivery
//! callback times every record, the consumer's rebalance callback notes when the group
//! assigned partitions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

use crate::client_context::ToolContext;

use super::latency_stats::ProducerStats;

/// How many delivery failures are printed one by one before only counting.
const DELIVERY_FAILURES_PRINTED_MAX: u64 = 10;

/// Context of the producer tool. Each record's delivery opaque is its send time in
/// nanoseconds since [`PerfProducerContext::epoch`], so timing a record allocates
/// nothing.
pub(crate) struct PerfProducerContext {
    tool: ToolContext,
    epoch: Instant,
    stats: Mutex<ProducerStats>,
    failed: AtomicU64,
}

impl PerfProducerContext {
    pub(crate) fn new(reporting_interval: Duration) -> Self {
        let epoch = Instant::now();
        PerfProducerContext {
            tool: ToolContext::default(),
            epoch,
            stats: Mutex::new(ProducerStats::new(epoch, reporting_interval)),
            failed: AtomicU64::new(0),
        }
    }

    /// Starts the measured run now: statistics so far are dropped.
    pub(crate) fn start(&self, reporting_interval: Duration) {
        self.tool.set_running();
        if let Ok(mut stats) = self.stats.lock() {
            *stats = ProducerStats::new(Instant::now(), reporting_interval);
        }
    }

    /// The delivery opaque of a record sent now.
    pub(crate) fn send_stamp(&self) -> usize {
        self.epoch.elapsed().as_nanos() as usize
    }

    /// Records whose delivery failed.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Runs `f` on the statistics.
    pub(crate) fn with_stats<T>(&self, f: impl FnOnce(&ProducerStats) -> T) -> Option<T> {
        self.stats.lock().ok().map(|stats| f(&stats))
    }
}

impl ClientContext for PerfProducerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.tool.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.tool.error(error, reason);
    }
}

impl ProducerContext for PerfProducerContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.epoch + Duration::from_nanos(sent_ns as u64));
        match result {
            Ok(message) => {
                let line = match self.stats.lock() {
                    Ok(mut stats) => stats.record(latency, message.payload_len(), now),
                    Err(_) => None,
                };
                if let Some(line) = line {
                    println!("{line}");
                }
            }
            Err((error, _)) => {
                // Kafka prints the exception and does not count the record as sent.
                let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if failed <= DELIVERY_FAILURES_PRINTED_MAX {
                    eprintln!("error: a record was not delivered: {error}");
                } else if failed == DELIVERY_FAILURES_PRINTED_MAX + 1 {
                    eprintln!("error: more delivery failures; counting them without printing each");
                }
            }
        }
    }
}

/// Context of the consumer tool: notes how long the group took to assign partitions.
pub(crate) struct PerfConsumerContext {
    tool: ToolContext,
    created: Instant,
    /// Microseconds from creation to the first assignment, `u64::MAX` until then.
    assigned_after_us: AtomicU64,
}

impl PerfConsumerContext {
    pub(crate) fn new() -> Self {
        PerfConsumerContext { tool: ToolContext::default(), created: Instant::now(), assigned_after_us: AtomicU64::new(u64::MAX) }
    }

    pub(crate) fn set_running(&self) {
        self.tool.set_running();
    }

    /// When the group first assigned partitions to this consumer, if it did.
    pub(crate) fn first_assignment(&self) -> Option<Instant> {
        match self.assigned_after_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(self.created + Duration::from_micros(us)),
        }
    }
}

impl ClientContext for PerfConsumerContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.tool.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.tool.error(error, reason);
    }
}

impl ConsumerContext for PerfConsumerContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            let us = self.created.elapsed().as_micros() as u64;
            let _ = self.assigned_after_us.compare_exchange(u64::MAX, us, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}
