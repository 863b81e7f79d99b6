//! Small helpers around librdkafka (the `rdkafka` crate) shared by the end-to-end tests.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Offset, TopicPartitionList};

/// Assigns `consumer` the given (partition, start offset) pairs of `topic`.
pub fn assign(consumer: &StreamConsumer, topic: &str, starts: &[(i32, i64)]) {
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in starts {
        list.add_partition_offset(topic, partition, Offset::Offset(offset)).expect("add partition");
    }
    consumer.assign(&list).expect("assign");
}

/// Receives exactly `n` records (panicking on a consumer error or when `within` runs out).
pub async fn recv_n(consumer: &StreamConsumer, n: usize, within: Duration) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + within;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, consumer.recv()).await {
            Err(_) => panic!("received {} of {n} records within {within:?}", out.len()),
            Ok(Err(e)) => panic!("consumer error after {} of {n} records: {e}", out.len()),
            Ok(Ok(message)) => out.push(message.detach()),
        }
    }
    out
}
