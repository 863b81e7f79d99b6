//! Fetched records taken from librdkafka many at a time, for `spool perf consume`.
//!
//! rust-rdkafka hands out one record per `poll`, and each poll costs a queue lock, two
//! clock reads and an allocation; librdkafka's own high-level consumer polled that way
//! reads about 1.4 M records/s on the development machine, and 6 M/s when it takes
//! them with `rd_kafka_consume_batch_queue` (`rdkafka_performance -G` without and with
//! `-B`, same broker, same run). The safe API has no batch call, so this module makes
//! it; it, [`super::topic_sender`] and [`super::delivery_queue`] hold the only `unsafe`
//! of the command-line tools.
//!
//! The records of every partition of the topic are forwarded to a queue of this
//! module's own. The consumer's queue keeps everything else (rebalances, errors), and
//! the caller serves it with `BaseConsumer::poll` between batches: a rebalance taken by
//! the batch call instead would be answered by librdkafka with an empty assignment,
//! since rust-rdkafka handles rebalances as events, not callbacks.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::marker::PhantomData;
use std::time::Duration;

use anyhow::{bail, Result};
use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::RDKafkaErrorCode;

/// Most records taken in one call.
const MAX_BATCH: usize = 4096;

/// The fetched records of one topic's partitions, on a queue of their own.
pub(crate) struct FetchQueue<'c> {
    /// Owned: destroyed (and disabled, so that records still forwarded to it are
    /// dropped) with this value.
    queue: *mut rdsys::rd_kafka_queue_t,
    /// Filled by each [`FetchQueue::read`]; every pointer in it is destroyed before
    /// `read` returns.
    batch: Vec<*mut rdsys::rd_kafka_message_t>,
    /// The queue must not outlive the client it belongs to.
    _consumer: PhantomData<&'c ()>,
}

impl<'c> FetchQueue<'c> {
    /// Forwards the fetched records of `topic`'s partitions `0..partitions` to a new
    /// queue. Call it before assigning or subscribing, so that no record reaches the
    /// consumer's own queue first.
    ///
    /// # Errors
    /// When the topic name has a NUL byte or librdkafka refuses a partition.
    pub(crate) fn new<C: ConsumerContext>(consumer: &'c BaseConsumer<C>, topic: &str, partitions: i32) -> Result<Self> {
        let Ok(topic_c) = CString::new(topic) else { bail!("topic name {topic:?} contains a NUL byte") };
        let rk = consumer.client().native_ptr();
        // SAFETY: `rk` is the live client handle of `consumer`, which outlives the queue
        // (the `'c` borrow). The queue handle returned is owned by this value and
        // destroyed once, in `drop`.
        let queue = unsafe { rdsys::rd_kafka_queue_new(rk) };
        if queue.is_null() {
            bail!("librdkafka could not create a queue");
        }
        let fetch_queue = FetchQueue { queue, batch: Vec::with_capacity(MAX_BATCH), _consumer: PhantomData };
        for partition in 0..partitions {
            // SAFETY: `rk` as above; `topic_c` is a valid NUL-terminated string for the
            // call. The partition handle is released right after forwarding: the
            // forward itself holds a reference to `queue`, and librdkafka keeps it
            // across assignments (the application's forward wins over its own).
            unsafe {
                let partition_queue = rdsys::rd_kafka_queue_get_partition(rk, topic_c.as_ptr(), partition);
                if partition_queue.is_null() {
                    bail!("librdkafka has no queue for partition {partition} of {topic}");
                }
                rdsys::rd_kafka_queue_forward(partition_queue, fetch_queue.queue);
                rdsys::rd_kafka_queue_destroy(partition_queue);
            }
        }
        Ok(fetch_queue)
    }

    /// Waits up to `timeout` for fetched records, takes up to `max` (at most
    /// [`MAX_BATCH`]) and calls `each` with the key plus value size of each, or the
    /// error librdkafka reported in its place. Returns how many it took.
    pub(crate) fn read(&mut self, timeout: Duration, max: usize, mut each: impl FnMut(Result<usize, RDKafkaErrorCode>)) -> usize {
        let max = max.clamp(1, MAX_BATCH);
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `batch` has room for `max` pointers; librdkafka writes at most `max`
        // and returns how many (or -1 on error, when it wrote none).
        let taken = unsafe { rdsys::rd_kafka_consume_batch_queue(self.queue, timeout_ms, self.batch.as_mut_ptr(), max) };
        let taken = usize::try_from(taken).unwrap_or(0).min(max);
        // SAFETY: librdkafka initialised the first `taken` slots.
        unsafe { self.batch.set_len(taken) };
        for &message in &self.batch {
            // SAFETY: each pointer is a message librdkafka handed over, valid until it
            // is destroyed, which happens exactly once, right after it is read.
            unsafe {
                let m = &*message;
                if m.err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    each(Ok(m.key_len + m.len));
                } else {
                    each(Err(RDKafkaErrorCode::from(m.err)));
                }
                rdsys::rd_kafka_message_destroy(message);
            }
        }
        self.batch.clear();
        taken
    }
}

impl Drop for FetchQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: the queue was created in `new` and is destroyed only here.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue) };
    }
}
