//! Record batches for unit tests: one uncompressed v2 batch from (key, value) pairs.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

/// One batch holding a record per `(key, value)`, at offsets from 0, all stamped `timestamp`.
pub(crate) fn batch(records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>, timestamp: i64) -> BytesMut {
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp,
            key,
            value,
            headers: Default::default(),
            delete_horizon: false,
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("encode a test batch");
    buf
}
