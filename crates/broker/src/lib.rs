//! The Spool broker: where sockets, time and tasks meet the pure crates.
//!
//! ```text
//!  TCP ──► connection (frames, in order) ──► dispatch (API key, version) ──► handlers/*
//!                                                                   │
//!            ┌──────────────────────────────────────────────────────┤
//!            ▼                                                      ▼
//!     ReplicaManager ── Partition (Log + high watermark)     MetadataQuorum (Raft, spool-quorum)
//!            ▲                                                      │
//!            └──────────── apply_image (open / update / delete) ◄───┘
//! ```
//!
//! A single `spool server` is a cluster of one: the same process is the controller
//! (a metadata quorum of one voter, [`metadata_quorum`]) and the broker. A larger
//! cluster runs the same code with more voters; followers copy their leaders' logs
//! ([`replica_fetcher`]).
//!
//! Invariants kept here:
//! - a response is only sent for a request whose records are in the log (acks ≥ 1) or,
//!   for `acks=all`, below the high watermark;
//! - a consumer never reads above the high watermark;
//! - nothing read from the network can panic the process: malformed input closes that
//!   one connection.

mod append_failures;
mod broker;
mod broker_client;
mod broker_liveness;
mod client_quotas;
mod connection;
mod connection_quotas;
mod dispatch;
mod error;
mod group_coordinator;
mod handlers;
pub mod log_levels;
mod meta_properties;
mod metadata_quorum;
mod partition;
mod quota_rate;
mod replica_fetcher;
mod replica_manager;
mod replication_quota;
mod response;
mod sasl;
mod server;
pub mod tls;

pub use broker::{now_ms, Broker, HOST_TAKES_BACK_MEMORY_NOTE};
pub use server::{run, Server};
