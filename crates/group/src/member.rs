//! A member of a classic group.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::api::{Protocol, RequestToken};

/// One member: who it is, what it supports, what it was assigned, and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocol_type: String,
    /// The member's protocols in its order of preference.
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    /// The JoinGroup request waiting for the rebalance to complete.
    pub(crate) awaiting_join: Option<RequestToken>,
    /// The SyncGroup request waiting for the leader's assignment.
    pub(crate) awaiting_sync: Option<RequestToken>,
    /// Joined during the current rebalance: expires after the new-member join timeout
    /// even while it waits, since it cannot heartbeat without a generation.
    pub(crate) is_new: bool,
    /// When the member is removed unless it heartbeats (or otherwise shows life) first;
    /// `None` while it waits in a rebalance, which bounds it by the rebalance timeout.
    pub(crate) heartbeat_deadline_ms: Option<i64>,
}

impl Member {
    pub(crate) fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }

    /// The member's metadata for `protocol`.
    pub(crate) fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| &p.metadata)
    }

    /// Whether `protocols` are exactly the member's, names, metadata and order.
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub(crate) fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols.iter().map(|p| p.name.as_str()).find(|name| candidates.contains(name))
    }

    /// Whether an expiring heartbeat deadline should remove the member (Kafka's
    /// `!hasSatisfiedHeartbeat` at expiration): new members expire even while waiting,
    /// others only when they wait for nothing.
    pub(crate) fn expires_at_deadline(&self) -> bool {
        self.is_new || (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
    }

    /// Restarts the session: the member must show life again within its session timeout.
    pub(crate) fn reschedule_heartbeat(&mut self, now_ms: i64) {
        self.heartbeat_deadline_ms = Some(now_ms + i64::from(self.session_timeout_ms));
    }
}
