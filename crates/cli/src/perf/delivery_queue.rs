//! Delivery reports of `spool perf produce`, taken from librdkafka's queue by the tool.
//!
//! rust-rdkafka's `BaseProducer::poll` hands the records of a delivery report to the
//! context's `delivery` one at a time, each wrapped in a message that holds a reference
//! to the report, and the tool then read the clock for each record. At 3 M records/s
//! the sending thread (which also serves the reports) is the bottleneck of the tool,
//! and those clock reads alone were a seventh of its time (`perf record`, one partition,
//! 100-byte records). All records of one report were acknowledged by the same
//! response, so one clock read times them all.
//!
//! This module polls the client's main queue itself, where librdkafka puts delivery
//! reports, errors, logs and statistics. Delivery reports go to the caller record by
//! record with the instant the report was taken; every other event goes to the client
//! context as rust-rdkafka's own poll would pass it. While a [`DeliveryQueue`] is in
//! use, the producer must not be polled through rust-rdkafka (`poll`, `flush`): the
//! context's `delivery` would get the reports instead.
#![allow(unsafe_code)]

use std::ffi::{c_int, CStr};
use std::ptr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rdkafka::bindings as rdsys;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::util::IntoOpaque;

/// Most records taken from a report in one call.
const MAX_BATCH: usize = 4096;
/// Most events one [`DeliveryQueue::serve`] takes, so that sending goes on meanwhile.
const MAX_EVENTS_PER_SERVE: usize = 256;

/// One record of a delivery report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivered {
    /// Why the record was not delivered; `None` when the broker acknowledged it.
    pub(crate) error: Option<RDKafkaErrorCode>,
    /// The opaque the record was sent with ([`super::topic_sender::TopicSender::send`]).
    pub(crate) opaque: usize,
    pub(crate) payload_len: usize,
}

/// The producer's main queue, served by the tool.
pub(crate) struct DeliveryQueue<'p, C: ProducerContext> {
    producer: &'p BaseProducer<C>,
    /// Owned reference to the client's main queue, released once, in `drop`.
    queue: *mut rdsys::rd_kafka_queue_t,
    /// The records of the report being served; the report owns them.
    batch: Vec<*const rdsys::rd_kafka_message_t>,
}

impl<'p, C: ProducerContext<DeliveryOpaque = usize>> DeliveryQueue<'p, C> {
    /// # Errors
    /// When librdkafka has no main queue for the client.
    pub(crate) fn new(producer: &'p BaseProducer<C>) -> Result<Self> {
        // SAFETY: the client handle is live for `'p`; the queue reference returned is
        // owned by this value and released once, in `drop`.
        let queue = unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) };
        if queue.is_null() {
            bail!("librdkafka has no main queue for the producer");
        }
        Ok(DeliveryQueue { producer, queue, batch: Vec::with_capacity(MAX_BATCH) })
    }

    /// Serves the events waiting, up to [`MAX_EVENTS_PER_SERVE`], or waits up to
    /// `timeout` (in whole milliseconds, as librdkafka counts) for the first: each
    /// record of a delivery report goes to `on_delivery` with the instant the report
    /// was taken.
    ///
    /// With many partitions each report holds a few records, one partition's batch, so
    /// a sender that took one report per call would fall ever further behind.
    pub(crate) fn serve(&mut self, timeout: Duration, mut on_delivery: impl FnMut(Instant, Delivered)) {
        let mut timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        let mut served = 0;
        while served < MAX_EVENTS_PER_SERVE {
            // SAFETY: `queue` is live (released only in `drop`); the event returned, if
            // any, is owned by `serve_event`, which destroys it.
            let event = unsafe { rdsys::rd_kafka_queue_poll(self.queue, timeout_ms) };
            if event.is_null() {
                break;
            }
            self.serve_event(event, &mut on_delivery);
            served += 1;
            timeout_ms = 0;
        }
    }

    /// Serves `event` and destroys it.
    fn serve_event(&mut self, event: *mut rdsys::rd_kafka_event_t, on_delivery: &mut impl FnMut(Instant, Delivered)) {
        // SAFETY: `event` is a live event.
        match unsafe { rdsys::rd_kafka_event_type(event) } {
            rdsys::RD_KAFKA_EVENT_DR => {
                let now = Instant::now();
                loop {
                    self.batch.clear();
                    // SAFETY: `batch` has room for `MAX_BATCH` pointers; librdkafka
                    // writes that many at most, and each call returns the report's
                    // next records. They live as long as the event.
                    let taken = unsafe { rdsys::rd_kafka_event_message_array(event, self.batch.as_mut_ptr(), MAX_BATCH) };
                    // SAFETY: the call initialized the first `taken` (≤ MAX_BATCH) entries.
                    unsafe { self.batch.set_len(taken) };
                    for &message in &self.batch {
                        // SAFETY: a record of the live event, read only.
                        let message = unsafe { &*message };
                        let error = (message.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
                            .then(|| RDKafkaErrorCode::from(message.err));
                        // SAFETY: the record was sent with a `usize` opaque made by
                        // `IntoOpaque::into_ptr` (`TopicSender::send`).
                        let opaque = unsafe { usize::from_ptr(message._private) };
                        on_delivery(now, Delivered { error, opaque, payload_len: message.len });
                    }
                    if taken < MAX_BATCH {
                        break;
                    }
                }
                self.batch.clear();
            }
            rdsys::RD_KAFKA_EVENT_ERROR => {
                // SAFETY: an error event; its string lives as long as the event.
                let (code, reason) = unsafe {
                    let code = rdsys::rd_kafka_event_error(event);
                    (code, CStr::from_ptr(rdsys::rd_kafka_event_error_string(event)).to_string_lossy())
                };
                self.producer.context().error(KafkaError::Global(code.into()), reason.trim());
            }
            rdsys::RD_KAFKA_EVENT_LOG => {
                let (mut facility, mut text, mut level) = (ptr::null(), ptr::null(), 0);
                // SAFETY: a log event; on success the call points `facility` and `text`
                // at NUL-terminated strings that live as long as the event.
                if unsafe { rdsys::rd_kafka_event_log(event, &mut facility, &mut text, &mut level) } == 0 {
                    // SAFETY: as just said.
                    let (facility, text) = unsafe { (CStr::from_ptr(facility).to_string_lossy(), CStr::from_ptr(text).to_string_lossy()) };
                    self.producer.context().log(log_level(level), facility.trim(), text.trim());
                }
            }
            rdsys::RD_KAFKA_EVENT_STATS => {
                // SAFETY: a statistics event; its JSON lives as long as the event.
                let json = unsafe { CStr::from_ptr(rdsys::rd_kafka_event_stats(event)) };
                self.producer.context().stats_raw(json.to_bytes());
            }
            // No other event is enabled for a producer without OAUTHBEARER, which the
            // perf tools do not configure.
            _ => {}
        }
        // SAFETY: owned here (see `serve`) and no longer used.
        unsafe { rdsys::rd_kafka_event_destroy(event) };
    }
}

impl<C: ProducerContext> Drop for DeliveryQueue<'_, C> {
    fn drop(&mut self) {
        // SAFETY: acquired in `new`, released only here.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue) };
    }
}

/// rust-rdkafka's level for a syslog level of librdkafka's log events.
fn log_level(level: c_int) -> RDKafkaLogLevel {
    match level {
        i32::MIN..=0 => RDKafkaLogLevel::Emerg,
        1 => RDKafkaLogLevel::Alert,
        2 => RDKafkaLogLevel::Critical,
        3 => RDKafkaLogLevel::Error,
        4 => RDKafkaLogLevel::Warning,
        5 => RDKafkaLogLevel::Notice,
        6 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}
