//! Records handed to librdkafka through a topic handle, for `spool perf produce`.
//!
//! rust-rdkafka's `send` names the topic on every record: it copies the name into a
//! new C string and librdkafka looks the topic up under a lock, about a tenth of the
//! producer tool's own CPU at 2 M records/s. Kafka's clients, and librdkafka's own
//! `rdkafka_performance`, resolve the topic once. The safe API has no call that takes a
//! topic handle, so this module makes one, beside the batch read of
//! [`super::fetch_queue`].
//!
//! The record's opaque is made with [`IntoOpaque::into_ptr`], exactly as rust-rdkafka's
//! `send` makes it, and comes back in its delivery report ([`super::delivery_queue`]).
#![allow(unsafe_code)]

use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr;

use anyhow::{bail, Result};
use rdkafka::bindings as rdsys;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::util::IntoOpaque;

/// librdkafka's `RD_KAFKA_PARTITION_UA`: let the configured partitioner choose.
const PARTITION_UNASSIGNED: i32 = -1;

/// A topic resolved once, to send records to.
pub(crate) struct TopicSender<'p> {
    /// Owned: released once, in `drop`.
    topic: *mut rdsys::rd_kafka_topic_t,
    /// The handle must not outlive the client it belongs to.
    _producer: PhantomData<&'p ()>,
}

impl<'p> TopicSender<'p> {
    /// # Errors
    /// When the topic name has a NUL byte or librdkafka refuses it.
    pub(crate) fn new<C: ProducerContext>(producer: &'p BaseProducer<C>, topic: &str) -> Result<Self> {
        let Ok(name) = CString::new(topic) else { bail!("topic name {topic:?} contains a NUL byte") };
        // SAFETY: the client handle is live for `'p`; `name` is a valid C string for the
        // call (librdkafka copies it); a null configuration means the client's defaults.
        let handle = unsafe { rdsys::rd_kafka_topic_new(producer.client().native_ptr(), name.as_ptr(), ptr::null_mut()) };
        if handle.is_null() {
            // SAFETY: reads librdkafka's thread-local last error, set by the failed call.
            let code = RDKafkaErrorCode::from(unsafe { rdsys::rd_kafka_last_error() });
            bail!("librdkafka refused topic {topic}: {code}");
        }
        Ok(TopicSender { topic: handle, _producer: PhantomData })
    }

    /// Queues a copy of `payload` (no key) for the partitioner to place; its delivery
    /// reaches the producer context's `delivery` with `opaque`.
    ///
    /// # Errors
    /// librdkafka's refusal, e.g. [`RDKafkaErrorCode::QueueFull`]; nothing was queued.
    pub(crate) fn send(&self, payload: &[u8], opaque: usize) -> Result<(), RDKafkaErrorCode> {
        // SAFETY: `topic` is live (owned, released only in `drop`); with
        // RD_KAFKA_MSG_F_COPY librdkafka copies `payload` before returning and never
        // writes through the pointer; no key. A `usize` opaque owns nothing.
        let queued = unsafe {
            rdsys::rd_kafka_produce(
                self.topic,
                PARTITION_UNASSIGNED,
                rdsys::RD_KAFKA_MSG_F_COPY,
                payload.as_ptr().cast_mut().cast::<c_void>(),
                payload.len(),
                ptr::null(),
                0,
                opaque.into_ptr(),
            )
        };
        if queued == 0 {
            Ok(())
        } else {
            // SAFETY: librdkafka's thread-local last error, set by the failed call.
            Err(RDKafkaErrorCode::from(unsafe { rdsys::rd_kafka_last_error() }))
        }
    }
}

impl Drop for TopicSender<'_> {
    fn drop(&mut self) {
        // SAFETY: created in `new`, released only here; records still queued keep their
        // own reference to the topic inside librdkafka.
        unsafe { rdsys::rd_kafka_topic_destroy(self.topic) };
    }
}
