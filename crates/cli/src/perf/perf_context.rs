//! librdkafka client contexts of the perf tools.
//!
//! Both wrap the console tools' [`ToolContext`] for logging (quiet while starting,
//! warnings once running); the consumer's adds what its measurement needs: its
//! rebalance callback notes when the group assigned partitions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

use crate::client_context::ToolContext;

/// Context of the producer tool: logging only. The tool takes its delivery reports
/// from librdkafka's queue itself ([`super::delivery_queue`]) and times them there;
/// the producer is never polled through rust-rdkafka, so `delivery` is not called.
#[derive(Default)]
pub(crate) struct PerfProducerContext {
    tool: ToolContext,
}

impl PerfProducerContext {
    pub(crate) fn set_running(&self) {
        self.tool.set_running();
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
    /// The record's send time (see `producer_performance::Measurement`).
    type DeliveryOpaque = usize;

    fn delivery(&self, _result: &DeliveryResult<'_>, _sent_ns: usize) {}
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
