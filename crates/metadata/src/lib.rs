//! Cluster metadata: what the controller knows and decides.
//!
//! ```text
//!   request ──► controller::* (pure) ──► Vec<MetadataRecord> ──► metadata log (durable)
//!                     ▲                                              │
//!                     └──────────── MetadataImage ◄── replay ◄───────┘
//! ```
//!
//! - [`records`]: the records of the metadata log.
//! - [`image`]: the in-memory state those records build ([`MetadataImage`]).
//! - [`controller`]: decisions (topic creation and placement, deletion, partition
//!   growth, config changes, producer-id blocks) as functions from an image to records.
//! - [`placement`]: where the replicas of new partitions go (by rack when brokers name one).
//! - [`config`]: the catalog of broker and topic configs with Kafka's names, defaults,
//!   validation and DescribeConfigs view.
//!
//! Invariant: state changes only through [`MetadataImage::replay`]; the controller never
//! mutates an image. This crate does no network I/O and reads no clock.

pub mod config;
pub mod controller;
pub mod image;
pub mod placement;
pub mod quota;
pub mod records;
pub mod topic_name;

pub use image::{MetadataImage, TopicImage};
pub use records::MetadataRecord;
