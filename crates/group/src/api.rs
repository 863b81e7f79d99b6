//! What the coordinator's operations take and give back, independent of wire versions.
//!
//! The broker's handlers translate each Kafka request version into these (for example
//! `require_known_member_id` is "JoinGroup v4 or later") and the results back into the
//! version's response, so version rules live in the handlers and group semantics here.

use bytes::Bytes;

use crate::error::GroupError;
use crate::records::GroupRecord;

/// Identifies one waiting JoinGroup or SyncGroup request; chosen by the caller, unique
/// among the requests it is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub u64);

/// One protocol a member supports (an assignor, for consumers) with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    pub group_id: String,
    /// Empty for a member that does not have an id yet.
    pub member_id: String,
    /// `group.instance.id` of a static member (v5+).
    pub group_instance_id: Option<String>,
    /// v4+: a new member first gets its id with `MEMBER_ID_REQUIRED` and joins again.
    pub require_known_member_id: bool,
    /// v9+ (KIP-814): a rejoining static leader may be told to skip the assignment.
    pub support_skipping_assignment: bool,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 has none; the handler passes the session timeout then, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    pub reason: Option<String>,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResult {
    pub error: Option<GroupError>,
    /// -1 when the join failed.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty when the join failed.
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member with its metadata for the selected protocol, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinGroupResult {
    /// A failed join: no generation, protocol or leader.
    pub fn error(member_id: &str, error: GroupError) -> Self {
        JoinGroupResult {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_name: Option<String>,
    /// The leader's assignment, member id to assignment; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResult {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncGroupResult {
    /// A failed sync: no protocol and an empty assignment.
    pub fn error(error: GroupError) -> Self {
        SyncGroupResult { error: Some(error), protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// A Heartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving: by member id, or by instance id alone (`member_id` empty) when
/// an administrator removes a static member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub reason: Option<String>,
}

/// A LeaveGroup request (v0–v2 carry one member, v3+ a batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroup {
    pub group_id: String,
    pub members: Vec<LeavingMember>,
}

/// The answer to a LeaveGroup: a top-level error, or one result per member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupResult {
    pub error: Option<GroupError>,
    pub members: Vec<(LeavingMember, Option<GroupError>)>,
}

/// One partition's offset in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCommit {
    pub partition: i32,
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    /// `None` is stored as the empty string, as Kafka does.
    pub metadata: Option<String>,
}

/// An OffsetCommit request, after the broker removed partitions it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub group_id: String,
    /// -1 for a consumer outside group management (or an admin), allowed while the
    /// group is empty.
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v2–v4 only: the offsets expire this long after the commit; -1 for the broker's
    /// retention.
    pub retention_time_ms: i64,
    /// The request's OffsetCommit version: members of consumer (KIP-848) groups must
    /// commit with v9 or later.
    pub api_version: i16,
    pub topics: Vec<(String, Vec<PartitionCommit>)>,
}

/// Per topic, each partition with its error (or none), in request order.
pub type PartitionErrors = Vec<(String, Vec<(i32, Option<GroupError>)>)>;

/// The answer to an OffsetCommit: an error (or none) per partition, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResult {
    pub topics: PartitionErrors,
}

/// An OffsetFetch for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetch {
    pub group_id: String,
    /// `None` asks for every committed offset of the group.
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    pub require_stable: bool,
    /// v9+: the consumer group member asking, checked against its group (`None` for
    /// admins and classic members).
    pub member_id: Option<String>,
    /// v9+: the member's epoch; -1 when not given.
    pub member_epoch: i32,
}

/// One partition's committed offset; offset -1 when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub error: Option<GroupError>,
}

/// The answer to an OffsetFetch for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResult {
    pub error: Option<GroupError>,
    pub topics: Vec<(String, Vec<FetchedOffset>)>,
}

/// The answer to an OffsetDelete: a group error, or one result per partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDeleteResult {
    pub error: Option<GroupError>,
    pub topics: PartitionErrors,
}

/// One group in a ListGroups answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's name of the group's state (classic or consumer group states).
    pub state: &'static str,
    /// `classic` or `consumer` (ListGroups v5).
    pub group_type: &'static str,
}

/// The answer to ListGroups from one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListGroupsResult {
    pub error: Option<GroupError>,
    pub groups: Vec<GroupOverview>,
}

/// One member in a DescribeGroups answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The metadata for the group's protocol; empty unless the group is stable.
    pub metadata: Bytes,
    /// Empty unless the group is stable.
    pub assignment: Bytes,
}

/// The answer to DescribeGroups for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub error: Option<GroupError>,
    /// Kafka's state name; `Dead` for a group that does not exist.
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A delayed answer that became ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Join(JoinGroupResult),
    Sync(SyncGroupResult),
}

impl Response {
    /// The answer to give instead when the records of the operation that produced this
    /// response could not be written.
    pub fn with_write_failure(self, failure: crate::AppendFailure) -> Response {
        let error = failure.group_write_error();
        match self {
            Response::Join(j) => Response::Join(JoinGroupResult::error(&j.member_id, error)),
            Response::Sync(_) => Response::Sync(SyncGroupResult::error(error)),
        }
    }
}

/// What an operation asks of its caller.
///
/// **Contract**: append `records` (in order, as one batch) to the shard's partition of
/// `__consumer_offsets` before sending any response of the operation, its own or those
/// in `responses`. The shard's memory already reflects the records; if the append
/// fails, memory is ahead of the log, so answer with the write error and reload the
/// shard from the log, the one state both agree on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Output {
    /// Waiting JoinGroup/SyncGroup requests that now have their answer.
    pub responses: Vec<(RequestToken, Response)>,
    pub records: Vec<GroupRecord>,
}

impl Output {
    pub(crate) fn respond(&mut self, token: RequestToken, response: Response) {
        self.responses.push((token, response));
    }

    /// Whether there is nothing to write and nobody to answer.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty() && self.records.is_empty()
    }
}
