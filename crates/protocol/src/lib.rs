//! Kafka's wire protocol as Spool speaks it, without any I/O.
//!
//! What this crate owns:
//! - [`frame`]: the 4-byte big-endian length prefix that delimits every request and
//!   response, with a size limit checked before any allocation.
//! - [`header`]: the request header (API key, version, correlation id, client id) and
//!   the encoding of response headers.
//! - [`versions`]: which API keys and version ranges the broker answers.
//! - [`batch`]: a *view* over record batches (magic v2): header fields, CRC32C check and
//!   in-place rewrites of the base offset and leader epoch. Records are never decoded
//!   here; batches travel through the broker as the bytes the producer sent.
//! - [`record`]: the records inside a batch (decompression, keys, values, re-encoding),
//!   for the log cleaner and for the key check of compacted topics, never the hot path.
//!
//! Message bodies are encoded and decoded by the `kafka-protocol` crate, which is
//! generated from Kafka's own message specs; nothing here hand-writes a message codec.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod batch;
pub mod frame;
pub mod header;
pub mod record;
pub mod versions;

pub use kafka_protocol;
