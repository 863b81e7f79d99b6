//! The librdkafka client context of the console tools.
//!
//! librdkafka reports every failed connection attempt through its log and error
//! callbacks, several lines a second. While a tool is starting, those go to `debug`
//! and the tool prints one clear line of its own if it cannot reach the cluster;
//! once it runs ([`ToolContext::set_running`]), client errors become warnings, as
//! Kafka's tools warn when a broker goes away.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::ProducerContext;

/// How many delivery failures are printed one by one before only counting.
const DELIVERY_FAILURES_PRINTED_MAX: u64 = 10;

/// Client context shared by the console producer and consumer.
#[derive(Default)]
pub(crate) struct ToolContext {
    running: AtomicBool,
    delivered: AtomicU64,
    failed: AtomicU64,
    first_failure: Mutex<Option<String>>,
}

impl ToolContext {
    /// From now on, client errors are printed as warnings.
    pub(crate) fn set_running(&self) {
        self.running.store(true, Ordering::Relaxed);
    }

    /// Records acknowledged by the broker so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Records that could not be delivered so far.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The error of the first failed delivery.
    pub(crate) fn first_failure(&self) -> Option<String> {
        self.first_failure.lock().ok().and_then(|f| f.clone())
    }
}

impl ClientContext for ToolContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error
                if self.running.load(Ordering::Relaxed) =>
            {
                tracing::warn!(target: "librdkafka", "{fac} {log_message}")
            }
            _ => tracing::debug!(target: "librdkafka", "{fac} {log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.running.load(Ordering::Relaxed) {
            tracing::warn!(target: "librdkafka", "{error}: {reason}");
        } else {
            tracing::debug!(target: "librdkafka", "{error}: {reason}");
        }
    }
}

impl ConsumerContext for ToolContext {}

impl ProducerContext for ToolContext {
    type DeliveryOpaque = ();

    fn delivery(&self, delivery_result: &DeliveryResult<'_>, _: ()) {
        match delivery_result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, message)) => {
                let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if let Ok(mut first) = self.first_failure.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
                if failed <= DELIVERY_FAILURES_PRINTED_MAX {
                    let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned());
                    eprintln!(
                        "error: could not send a message to topic {} with key: {}, value: {} bytes: {error}",
                        message.topic(),
                        key.as_deref().unwrap_or("null"),
                        message.payload().map_or(0, <[u8]>::len),
                    );
                } else if failed == DELIVERY_FAILURES_PRINTED_MAX + 1 {
                    eprintln!("error: more delivery failures; counting them without printing each");
                }
            }
        }
    }
}
