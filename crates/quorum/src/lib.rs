//! The metadata quorum: the cluster metadata log replicated by Raft, as in Kafka's KRaft.
//!
//! ```text
//!   submit(request) ──► leader? ──no──► Forward over the controller listener ──► leader
//!                          │yes
//!                          ▼
//!        ensure_linearizable ─► decide(image, request) ─► records ─► Raft (openraft)
//!                                                                       │ commit
//!   every node (voters and learners):  committed entries ─► replay ─► MetadataImage ─► watch
//! ```
//!
//! - Consensus is [openraft](openraft) 0.9 (storage-v2 API), not hand-written. This crate
//!   provides its storage ([`log_store`], [`raft_log`], [`quorum_state`],
//!   [`state_machine`], [`snapshot_file`]) and network ([`network`], [`listener`],
//!   [`wire`]).
//! - Voters (`controller.quorum.voters`) elect the leader; a single voter is a quorum of
//!   one and uses exactly the same code. Nodes that are not voters follow the log as Raft
//!   learners ([`learner`]).
//! - The controller itself is `spool_metadata::controller::decide`, a pure function: the
//!   leader runs it against its applied image, one request at a time, and commits the
//!   records it returns. The image changes only by replaying committed records, on every
//!   node alike, so all images converge.
//!
//! Invariants:
//! - Nothing is acknowledged before it is durable: the vote and log entries are fsynced
//!   before openraft is told they are written.
//! - A decision sees every earlier committed decision (one proposer, linearizable read of
//!   the image first; a timed-out proposal is waited for before the next decision).
//! - A node refuses to start on another cluster's, node's or voter set's directory, and
//!   refuses RPCs from nodes with another cluster id or voter set.
//! - While there is no leader the node says so periodically (see [`monitor`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod durable_file;
mod error;
mod learner;
mod listener;
mod log_store;
mod monitor;
mod network;
mod quorum;
mod quorum_identity;
mod quorum_state;
mod raft_log;
mod raft_types;
mod snapshot_file;
mod state_machine;
mod status;
mod submit;
mod wire;

pub use config::{QuorumConfig, QuorumLimits, QuorumTimeouts, RequestObserver, METADATA_LOG_DIR};
pub use error::{QuorumError, SubmitError};
pub use quorum::Quorum;
pub use raft_types::MetadataBatch;
pub use status::{QuorumRole, QuorumStatus, ReplicaLag};
