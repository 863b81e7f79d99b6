//! Small helpers around librdkafka (the `rdkafka` crate) shared by the end-to-end tests.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
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

/// Creates `topic` with `partitions` partitions and replication factor 1 through the
/// Admin API, panicking with the broker's error if it is refused.
pub async fn create_topic(addr: &str, topic: &str, partitions: i32) {
    create_topic_with(addr, topic, partitions, &[]).await;
}

/// [`create_topic`] with topic config overrides (`("cleanup.policy", "compact")`, ...).
pub async fn create_topic_with(addr: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", addr).create().expect("create admin client");
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&new_topic], &options).await.expect("CreateTopics request");
    assert_eq!(results.len(), 1);
    if let Err((name, code)) = &results[0] {
        panic!("creating topic {name} with {configs:?} failed: {code:?}");
    }
}
