//! Scenario tests of KIP-848 consumer groups: joins, epochs, revocation before
//! assignment, fencing, timeouts, assignors, offsets, and replay of all records.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::records::Assignment;
use super::{ConsumerGroupHeartbeat, ConsumerGroupHeartbeatResult, MemberState};
use crate::api::{JoinGroup, OffsetCommit, OffsetFetch, Output, PartitionCommit, Protocol, RequestToken, Response};
use crate::error::GroupError;
use crate::records::GroupRecord;
use crate::{GroupConfig, GroupCoordinatorShard};

const T0: i64 = 1_700_000_000_000;
const TOPIC: Uuid = Uuid::from_u128(0xabc);

struct Harness {
    shard: GroupCoordinatorShard,
    now: i64,
    log: Vec<GroupRecord>,
    /// Topic name to (id, partitions), the "cluster metadata".
    topics: BTreeMap<String, (Uuid, i32)>,
}

impl Harness {
    fn new(partitions: i32) -> Self {
        Harness::with_config(partitions, GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() })
    }

    fn with_config(partitions: i32, config: GroupConfig) -> Self {
        let mut shard = GroupCoordinatorShard::new(0, config, 11);
        let out = shard.complete_load(T0);
        assert!(out.is_empty());
        Harness { shard, now: T0, log: Vec::new(), topics: BTreeMap::from([("t".to_string(), (TOPIC, partitions))]) }
    }

    fn absorb(&mut self, out: Output) {
        for record in out.records {
            let decoded = GroupRecord::decode(&record.encode_key(), record.encode_value().as_deref())
                .expect("own records decode")
                .expect("known key");
            assert_eq!(decoded, record);
            self.log.push(decoded);
        }
    }

    fn heartbeat(&mut self, request: ConsumerGroupHeartbeat) -> ConsumerGroupHeartbeatResult {
        let (result, out) = self.shard.consumer_group_heartbeat(&request, &self.topics, self.now);
        self.absorb(out);
        result
    }

    fn join(&mut self, member_id: &str) -> ConsumerGroupHeartbeatResult {
        self.heartbeat(join_request(member_id))
    }

    /// A steady heartbeat reporting what the member owns.
    fn beat(&mut self, member_id: &str, epoch: i32, owned: &BTreeSet<i32>) -> ConsumerGroupHeartbeatResult {
        let owned = vec![(TOPIC, owned.iter().copied().collect())];
        self.heartbeat(ConsumerGroupHeartbeat {
            group_id: "g".into(),
            member_id: member_id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: -1,
            owned_partitions: Some(owned),
            ..Default::default()
        })
    }

    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(deadline) = self.shard.next_deadline_ms().filter(|&d| d <= target) {
            self.now = self.now.max(deadline);
            let out = self.shard.tick(self.now);
            self.absorb(out);
        }
        self.now = target;
    }

    fn member_state(&self, member_id: &str) -> (i32, MemberState) {
        let m = &self.shard.consumer_groups["g"].members[member_id];
        (m.member_epoch, m.state)
    }

    /// What replaying the log rebuilds equals the live state (deadlines aside).
    fn assert_replay_matches(&self) {
        let config = GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() };
        let mut replayed = GroupCoordinatorShard::new(0, config, 1);
        for record in &self.log {
            replayed.replay(record);
        }
        let strip = |s: &GroupCoordinatorShard| {
            let mut groups = s.consumer_groups.clone();
            for g in groups.values_mut() {
                g.resolved_regexes.clear();
                for m in g.members.values_mut() {
                    m.session_deadline_ms = None;
                    m.rebalance_deadline = None;
                }
            }
            groups
        };
        assert_eq!(strip(&replayed), strip(&self.shard));
        assert_eq!(replayed.offsets, self.shard.offsets);
        assert_eq!(replayed.durable_state(), self.shard.durable_state());
    }
}

fn join_request(member_id: &str) -> ConsumerGroupHeartbeat {
    ConsumerGroupHeartbeat {
        group_id: "g".into(),
        member_id: member_id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned_partitions: Some(Vec::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

fn partitions(result: &ConsumerGroupHeartbeatResult) -> BTreeSet<i32> {
    let assignment = result.assignment.as_ref().expect("an assignment");
    assignment.get(&TOPIC).cloned().unwrap_or_default()
}

fn commit(member_id: &str, epoch: i32, partition: i32, offset: i64) -> OffsetCommit {
    OffsetCommit {
        group_id: "g".into(),
        generation_id: epoch,
        member_id: member_id.into(),
        group_instance_id: None,
        retention_time_ms: -1,
        api_version: 9,
        topics: vec![(
            "t".into(),
            vec![PartitionCommit { partition, offset, leader_epoch: -1, metadata: None }],
        )],
    }
}

#[test]
fn first_member_gets_every_partition_at_epoch_one() {
    let mut h = Harness::new(4);
    let r = h.join("m1");
    assert_eq!(r.error, None);
    assert_eq!(r.member_id.as_deref(), Some("m1"));
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    assert_eq!(partitions(&r), BTreeSet::from([0, 1, 2, 3]));
    assert_eq!(h.shard.consumer_groups["g"].state(), super::ConsumerGroupState::Stable);
    // A steady heartbeat changes nothing and carries no assignment.
    let r = h.beat("m1", 1, &BTreeSet::from([0, 1, 2, 3]));
    assert_eq!((r.error, r.member_epoch, r.assignment), (None, 1, None));
    h.assert_replay_matches();
}

#[test]
fn a_member_without_id_gets_one() {
    let mut h = Harness::new(2);
    let r = h.join("");
    let id = r.member_id.expect("an id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(h.shard.consumer_groups["g"].members.len(), 1);
}

#[test]
fn partitions_move_only_after_their_owner_revoked_them() {
    let mut h = Harness::new(4);
    let all = partitions(&h.join("m1"));

    // m2 joins: epoch 2; m2 waits for partitions m1 still owns.
    let r2 = h.join("m2");
    assert_eq!(r2.member_epoch, 2);
    assert!(partitions(&r2).is_empty(), "nothing before m1 revoked");
    assert_eq!(h.member_state("m2"), (2, MemberState::UnreleasedPartitions));

    // m1 learns to revoke and stays at epoch 1 until it acknowledges.
    let r1 = h.beat("m1", 1, &all);
    assert_eq!(r1.member_epoch, 1);
    let kept = partitions(&r1);
    assert_eq!(kept.len(), 2);
    assert_eq!(h.member_state("m1"), (1, MemberState::UnrevokedPartitions));
    let r1 = h.beat("m1", 1, &all);
    assert_eq!((r1.member_epoch, r1.assignment), (1, None), "still owns what it must revoke");

    // m2 still gets nothing while m1 holds them.
    let r2 = h.beat("m2", 2, &BTreeSet::new());
    assert_eq!(r2.assignment, None);

    // m1 acknowledges: epoch 2, stable.
    let r1 = h.beat("m1", 1, &kept);
    assert_eq!(r1.member_epoch, 2);
    assert_eq!(h.member_state("m1"), (2, MemberState::Stable));

    // Now m2 gets the released partitions.
    let r2 = h.beat("m2", 2, &BTreeSet::new());
    let theirs = partitions(&r2);
    assert_eq!(theirs.len(), 2);
    assert!(theirs.is_disjoint(&kept));
    assert_eq!(h.member_state("m2"), (2, MemberState::Stable));
    assert_eq!(h.shard.consumer_groups["g"].state(), super::ConsumerGroupState::Stable);
    h.assert_replay_matches();
}

#[test]
fn stale_and_future_epochs_are_fenced_and_strangers_unknown() {
    let mut h = Harness::new(2);
    h.join("m1");
    assert_eq!(h.beat("m1", 5, &BTreeSet::new()).error, Some(GroupError::FencedMemberEpoch));
    assert_eq!(h.beat("nobody", 1, &BTreeSet::new()).error, Some(GroupError::UnknownMemberId));
    h.join("m2");
    let r = h.beat("m1", 1, &BTreeSet::from([0, 1]));
    assert_eq!(r.member_epoch, 1, "revoking");
    let kept = partitions(&r);
    h.beat("m1", 1, &kept);
    assert_eq!(h.member_state("m1").0, 2);
    // The previous epoch is accepted if the member owns a subset of its assignment
    // (the answer that moved it on was lost) ...
    assert_eq!(h.beat("m1", 1, &kept).error, None);
    // ... but not with partitions it no longer has.
    assert_eq!(h.beat("m1", 1, &BTreeSet::from([0, 1])).error, Some(GroupError::FencedMemberEpoch));
    // Bad requests.
    let mut bad = join_request("m3");
    bad.subscribed_topic_names = None;
    assert_eq!(h.heartbeat(bad).error, Some(GroupError::InvalidRequest));
    let mut bad = join_request("m3");
    bad.server_assignor = Some("sticky".into());
    assert_eq!(h.heartbeat(bad).error, Some(GroupError::UnsupportedAssignor));
}

#[test]
fn leaving_releases_partitions_to_the_others() {
    let mut h = Harness::new(4);
    h.join("m1");
    let r = h.join("m2");
    let r1 = h.beat("m1", 1, &BTreeSet::from([0, 1, 2, 3]));
    h.beat("m1", 1, &partitions(&r1));
    let r2 = h.beat("m2", r.member_epoch, &BTreeSet::new());
    let owned2 = partitions(&r2);
    let epoch = h.shard.consumer_groups["g"].group_epoch;

    let leave = ConsumerGroupHeartbeat { group_id: "g".into(), member_id: "m2".into(), member_epoch: -1, ..Default::default() };
    let r = h.heartbeat(leave);
    assert_eq!((r.error, r.member_epoch), (None, -1));
    assert!(!h.shard.consumer_groups["g"].members.contains_key("m2"));
    assert_eq!(h.shard.consumer_groups["g"].group_epoch, epoch + 1);

    let r1 = h.beat("m1", 2, &partitions(&r1));
    assert_eq!(r1.member_epoch, epoch + 1);
    assert_eq!(partitions(&r1), BTreeSet::from([0, 1, 2, 3]));
    assert!(owned2.iter().all(|p| partitions(&r1).contains(p)));
    h.assert_replay_matches();
}

#[test]
fn a_silent_member_is_fenced_after_the_session_timeout() {
    let mut h = Harness::new(2);
    h.join("m1");
    let r2 = h.join("m2");
    let r1 = h.beat("m1", 1, &BTreeSet::from([0, 1]));
    let kept = partitions(&r1);
    h.beat("m1", 1, &kept);
    h.beat("m2", r2.member_epoch, &BTreeSet::new());
    // m1 keeps heartbeating, m2 goes silent.
    for _ in 0..10 {
        h.advance(5_000);
        let epoch = h.member_state("m1").0;
        let owned: BTreeSet<i32> = h.shard.consumer_groups["g"].members["m1"].assigned.get(&TOPIC).cloned().unwrap_or_default();
        h.beat("m1", epoch, &owned);
    }
    let group = &h.shard.consumer_groups["g"];
    assert!(!group.members.contains_key("m2"), "fenced after 45 s");
    assert_eq!(group.members["m1"].assigned.get(&TOPIC), Some(&BTreeSet::from([0, 1])));
    h.assert_replay_matches();
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let mut h = Harness::new(2);
    h.join("m1");
    h.join("m2");
    h.beat("m1", 1, &BTreeSet::from([0, 1]));
    assert_eq!(h.member_state("m1"), (1, MemberState::UnrevokedPartitions));
    // m1 keeps heartbeating but never gives up the partition: 30 s rebalance timeout.
    for _ in 0..7 {
        h.advance(5_000);
        if h.shard.consumer_groups["g"].members.contains_key("m1") {
            h.beat("m1", 1, &BTreeSet::from([0, 1]));
        }
    }
    assert!(!h.shard.consumer_groups["g"].members.contains_key("m1"));
    let epoch = h.member_state("m2").0;
    let r2 = h.beat("m2", epoch, &BTreeSet::new());
    assert_eq!(partitions(&r2), BTreeSet::from([0, 1]));
    h.assert_replay_matches();
}

fn static_join(member_id: &str, instance_id: &str) -> ConsumerGroupHeartbeat {
    ConsumerGroupHeartbeat { instance_id: Some(instance_id.into()), ..join_request(member_id) }
}

/// A stable group of static member `s1` (instance "i") and dynamic member `m2`, with
/// two partitions each; returns what each owns.
fn stable_static_group(h: &mut Harness) -> (BTreeSet<i32>, BTreeSet<i32>) {
    h.heartbeat(static_join("s1", "i"));
    let r2 = h.join("m2");
    let r1 = h.beat("s1", 1, &BTreeSet::from([0, 1, 2, 3]));
    let kept = partitions(&r1);
    h.beat("s1", 1, &kept);
    let r2 = h.beat("m2", r2.member_epoch, &BTreeSet::new());
    assert_eq!(h.shard.consumer_groups["g"].state(), super::ConsumerGroupState::Stable);
    (kept, partitions(&r2))
}

fn static_leave(h: &mut Harness, member_id: &str, instance_id: &str) -> ConsumerGroupHeartbeatResult {
    h.heartbeat(ConsumerGroupHeartbeat {
        group_id: "g".into(),
        member_id: member_id.into(),
        member_epoch: -2,
        instance_id: Some(instance_id.into()),
        ..Default::default()
    })
}

#[test]
fn a_static_member_rejoining_under_a_new_id_takes_over_its_assignment() {
    let mut h = Harness::new(4);
    let (owned1, owned2) = stable_static_group(&mut h);
    let epoch = h.shard.consumer_groups["g"].group_epoch;
    let r = static_leave(&mut h, "s1", "i");
    assert_eq!((r.error, r.member_epoch), (None, -2));
    assert_eq!(h.member_state("s1").0, -2, "kept for its session");

    let r = h.heartbeat(static_join("s1-again", "i"));
    assert_eq!(r.error, None);
    assert_eq!(r.member_id.as_deref(), Some("s1-again"));
    assert_eq!(r.member_epoch, epoch, "the old epoch, no rebalance");
    assert_eq!(partitions(&r), owned1);
    let group = &h.shard.consumer_groups["g"];
    assert_eq!(group.group_epoch, epoch);
    assert!(!group.members.contains_key("s1"));
    assert_eq!(group.state(), super::ConsumerGroupState::Stable);
    // The other member notices nothing.
    let r2 = h.beat("m2", epoch, &owned2);
    assert_eq!((r2.error, r2.member_epoch, r2.assignment), (None, epoch, None));
    // The old incarnation is fenced by the new one.
    let old = ConsumerGroupHeartbeat { instance_id: Some("i".into()), ..h_beat_request("s1", epoch, &owned1) };
    assert_eq!(h.heartbeat(old).error, Some(GroupError::FencedInstanceId));
    h.assert_replay_matches();
}

fn h_beat_request(member_id: &str, epoch: i32, owned: &BTreeSet<i32>) -> ConsumerGroupHeartbeat {
    ConsumerGroupHeartbeat {
        group_id: "g".into(),
        member_id: member_id.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned_partitions: Some(vec![(TOPIC, owned.iter().copied().collect())]),
        ..Default::default()
    }
}

#[test]
fn a_live_static_members_instance_id_is_not_released() {
    let mut h = Harness::new(4);
    stable_static_group(&mut h);
    let epoch = h.shard.consumer_groups["g"].group_epoch;
    let r = h.heartbeat(static_join("intruder", "i"));
    assert_eq!(r.error, Some(GroupError::UnreleasedInstanceId));
    let group = &h.shard.consumer_groups["g"];
    assert_eq!((group.group_epoch, group.members.len()), (epoch, 2));
    assert!(!group.members.contains_key("intruder"));
    // An unknown instance id on a heartbeat is an unknown member.
    let stranger = ConsumerGroupHeartbeat { instance_id: Some("j".into()), ..h_beat_request("s1", epoch, &BTreeSet::new()) };
    assert_eq!(h.heartbeat(stranger).error, Some(GroupError::UnknownMemberId));
}

#[test]
fn a_static_member_that_does_not_come_back_is_removed_after_its_session() {
    let mut h = Harness::new(4);
    let (_, owned2) = stable_static_group(&mut h);
    let epoch = h.shard.consumer_groups["g"].group_epoch;
    static_leave(&mut h, "s1", "i");
    let mut owned = owned2;
    for _ in 0..10 {
        h.advance(5_000);
        let (epoch, _) = h.member_state("m2");
        let r = h.beat("m2", epoch, &owned);
        if let Some(assignment) = r.assignment {
            owned = assignment.get(&TOPIC).cloned().unwrap_or_default();
        }
    }
    let group = &h.shard.consumer_groups["g"];
    assert!(!group.members.contains_key("s1"), "removed after 45 s");
    assert_eq!(group.group_epoch, epoch + 1);
    assert_eq!(owned, BTreeSet::from([0, 1, 2, 3]), "its partitions went to the other member");
    // The instance id is free again: a new incarnation joins as a new member.
    let r = h.heartbeat(static_join("s1-late", "i"));
    assert_eq!((r.error, r.member_epoch), (None, epoch + 2));
    h.assert_replay_matches();
}

#[test]
fn more_partitions_bump_the_epoch_and_get_assigned() {
    let mut h = Harness::new(2);
    h.join("m1");
    h.topics.insert("t".into(), (TOPIC, 3));
    let r = h.beat("m1", 1, &BTreeSet::from([0, 1]));
    assert_eq!(r.member_epoch, 2);
    assert_eq!(partitions(&r), BTreeSet::from([0, 1, 2]));
    h.assert_replay_matches();
}

#[test]
fn range_assignor_is_used_when_members_ask_for_it() {
    let mut h = Harness::new(4);
    let mut a = join_request("a");
    a.server_assignor = Some("range".into());
    h.heartbeat(a);
    let mut b = join_request("b");
    b.server_assignor = Some("range".into());
    h.heartbeat(b);
    let target = &h.shard.consumer_groups["g"].target;
    assert_eq!(target["a"][&TOPIC], BTreeSet::from([0, 1]));
    assert_eq!(target["b"][&TOPIC], BTreeSet::from([2, 3]));
}

#[test]
fn commits_need_the_current_member_epoch() {
    let mut h = Harness::new(2);
    let r = h.join("m1");
    let (result, out) = h.shard.offset_commit(&commit("m1", r.member_epoch, 0, 42), h.now);
    assert_eq!(result.topics[0].1[0].1, None);
    h.absorb(out);
    let (result, _) = h.shard.offset_commit(&commit("m1", r.member_epoch + 1, 0, 43), h.now);
    assert_eq!(result.topics[0].1[0].1, Some(GroupError::StaleMemberEpoch));
    let (result, _) = h.shard.offset_commit(&commit("stranger", 1, 0, 43), h.now);
    assert_eq!(result.topics[0].1[0].1, Some(GroupError::UnknownMemberId));
    let fetch = |member: Option<&str>, epoch| OffsetFetch {
        group_id: "g".into(),
        topics: None,
        require_stable: false,
        member_id: member.map(str::to_string),
        member_epoch: epoch,
    };
    let fetched = h.shard.offset_fetch(&fetch(Some("m1"), r.member_epoch));
    assert_eq!(fetched.topics[0].1[0].offset, 42);
    assert_eq!(h.shard.offset_fetch(&fetch(Some("m1"), 7)).error, Some(GroupError::StaleMemberEpoch));
    assert_eq!(h.shard.offset_fetch(&fetch(None, -1)).error, None, "admins fetch freely");
    h.assert_replay_matches();
}

#[test]
fn members_commit_with_offset_commit_v9_or_later() {
    let mut h = Harness::new(2);
    let r = h.join("m1");
    let old = OffsetCommit { api_version: 8, ..commit("m1", r.member_epoch, 0, 42) };
    let (result, out) = h.shard.offset_commit(&old, h.now);
    assert_eq!(result.topics[0].1[0].1, Some(GroupError::UnsupportedVersion));
    assert!(out.records.is_empty());
    // A stranger is unknown whatever the version; v9 from the member is accepted.
    let (result, _) = h.shard.offset_commit(&OffsetCommit { api_version: 8, ..commit("x", 1, 0, 42) }, h.now);
    assert_eq!(result.topics[0].1[0].1, Some(GroupError::UnknownMemberId));
    let (result, out) = h.shard.offset_commit(&commit("m1", r.member_epoch, 0, 42), h.now);
    assert_eq!(result.topics[0].1[0].1, None);
    h.absorb(out);
    // Once the group is empty, an admin commits with any version.
    h.heartbeat(ConsumerGroupHeartbeat { member_epoch: -1, ..join_request("m1") });
    let (result, _) = h.shard.offset_commit(&OffsetCommit { api_version: 2, ..commit("", -1, 0, 7) }, h.now);
    assert_eq!(result.topics[0].1[0].1, None);
}

#[test]
fn offsets_of_topics_the_group_no_longer_subscribes_to_expire() {
    let config = GroupConfig {
        offsets_topic_num_partitions: 1,
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(1, config);
    let r = h.join("m1");
    let mut old = commit("m1", r.member_epoch, 0, 5);
    old.topics[0].0 = "old".into();
    for request in [commit("m1", r.member_epoch, 0, 42), old] {
        let (result, out) = h.shard.offset_commit(&request, h.now);
        assert_eq!(result.topics[0].1[0].1, None);
        h.absorb(out);
    }
    // The member keeps heartbeating; only the offset of the topic it does not
    // subscribe to expires, one retention after its commit.
    let owned = BTreeSet::from([0]);
    for _ in 0..11 {
        h.advance(5_000);
        h.beat("m1", r.member_epoch, &owned);
    }
    assert_eq!(h.shard.offsets["g"].len(), 2, "not before the retention");
    for _ in 0..2 {
        h.advance(5_000);
        h.beat("m1", r.member_epoch, &owned);
    }
    let kept: Vec<&(String, i32)> = h.shard.offsets["g"].keys().collect();
    assert_eq!(kept, [&("t".to_string(), 0)]);
    assert_eq!(h.shard.consumer_groups["g"].members.len(), 1);
    h.assert_replay_matches();
}

fn regex_join(member_id: &str, regex: &str) -> ConsumerGroupHeartbeat {
    ConsumerGroupHeartbeat {
        subscribed_topic_names: Some(Vec::new()),
        subscribed_topic_regex: Some(regex.into()),
        ..join_request(member_id)
    }
}

#[test]
fn a_regex_subscription_takes_the_whole_names_it_matches_and_topics_created_later() {
    let mut h = Harness::new(2);
    let other = Uuid::from_u128(0xdef);
    h.topics.insert("tx".into(), (other, 1));
    h.topics.insert("u".into(), (Uuid::from_u128(0x123), 1));
    // Kafka matches the whole name: "t" alone matches neither "tx" nor "u".
    let r = h.heartbeat(regex_join("m1", "t"));
    assert_eq!(r.error, None);
    assert_eq!(r.assignment.as_ref().map(|a| a.keys().copied().collect::<Vec<_>>()), Some(vec![TOPIC]));
    let r = h.heartbeat(regex_join("m1", "t.*"));
    assert_eq!(r.error, None);
    let assignment = r.assignment.expect("an assignment");
    assert_eq!(assignment.get(&TOPIC), Some(&BTreeSet::from([0, 1])));
    assert_eq!(assignment.get(&other), Some(&BTreeSet::from([0])));
    assert_eq!(assignment.len(), 2, "not u: {assignment:?}");
    let epoch = r.member_epoch;

    // A matching topic created later joins the subscription on the next heartbeat.
    let created = Uuid::from_u128(0x456);
    h.topics.insert("t-new".into(), (created, 3));
    let owned: Vec<(Uuid, Vec<i32>)> = assignment.iter().map(|(t, ps)| (*t, ps.iter().copied().collect())).collect();
    let beat = ConsumerGroupHeartbeat { owned_partitions: Some(owned), ..h_beat_request("m1", epoch, &BTreeSet::new()) };
    let r = h.heartbeat(beat);
    assert_eq!(r.error, None);
    assert_eq!(r.member_epoch, epoch + 1);
    assert_eq!(r.assignment.expect("an assignment").get(&created), Some(&BTreeSet::from([0, 1, 2])));
    assert!(h.shard.consumer_groups["g"].subscribed_topic_names().contains("t-new"));
    h.assert_replay_matches();
}

#[test]
fn an_invalid_or_oversized_regex_is_refused() {
    let mut h = Harness::new(2);
    for regex in ["(", "[a-", &"a".repeat(2_000)] {
        let r = h.heartbeat(regex_join("m1", regex));
        assert_eq!(r.error, Some(GroupError::InvalidRegularExpression), "{regex:.20}");
    }
    assert!(!h.shard.consumer_groups.contains_key("g"));
    // Neither names nor a regex: nothing to subscribe to.
    let r = h.heartbeat(regex_join("m1", ""));
    assert_eq!(r.error, Some(GroupError::InvalidRequest));
}

#[test]
fn classic_and_consumer_groups_do_not_mix() {
    let mut h = Harness::new(2);
    h.join("m1");
    let join = JoinGroup {
        group_id: "g".into(),
        member_id: String::new(),
        group_instance_id: None,
        require_known_member_id: true,
        support_skipping_assignment: false,
        client_id: "c".into(),
        client_host: "h".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol { name: "range".into(), metadata: Default::default() }],
        reason: None,
    };
    let out = h.shard.join_group(RequestToken(1), &join, h.now);
    match &out.responses[..] {
        [(_, Response::Join(j))] => assert_eq!(j.error, Some(GroupError::InconsistentGroupProtocol)),
        other => panic!("unexpected {other:?}"),
    }

    // A classic group with members refuses consumer members.
    let classic = JoinGroup { group_id: "c".into(), require_known_member_id: false, ..join };
    let out = h.shard.join_group(RequestToken(2), &classic, h.now);
    h.absorb(out);
    let mut request = join_request("x");
    request.group_id = "c".into();
    let (r, _) = h.shard.consumer_group_heartbeat(&request, &h.topics.clone(), h.now);
    assert_eq!(r.error, Some(GroupError::GroupIdNotFound));
}

#[test]
fn an_empty_consumer_group_is_listed_deleted_and_its_offsets_go() {
    let mut h = Harness::new(2);
    let r = h.join("m1");
    let (_, out) = h.shard.offset_commit(&commit("m1", r.member_epoch, 1, 7), h.now);
    h.absorb(out);
    let listed = h.shard.list_groups(&[], &["consumer".into()]);
    assert_eq!(listed.groups.len(), 1);
    assert_eq!((listed.groups[0].state, listed.groups[0].group_type), ("Stable", "consumer"));
    assert!(h.shard.list_groups(&[], &["classic".into()]).groups.is_empty());

    let (results, _) = h.shard.delete_groups(&["g".into()]);
    assert_eq!(results[0].1, Some(GroupError::NonEmptyGroup));
    h.heartbeat(ConsumerGroupHeartbeat { group_id: "g".into(), member_id: "m1".into(), member_epoch: -1, ..Default::default() });
    assert_eq!(h.shard.list_groups(&["empty".into()], &[]).groups.len(), 1);
    let (results, out) = h.shard.delete_groups(&["g".into()]);
    h.absorb(out);
    assert_eq!(results[0].1, None);
    assert!(h.shard.consumer_groups.is_empty() && h.shard.offsets.is_empty() && h.shard.groups.is_empty());
    h.assert_replay_matches();
}

#[test]
fn a_loaded_group_keeps_its_members_and_their_sessions_restart() {
    let mut h = Harness::new(2);
    h.join("m1");
    let config = GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() };
    let mut loaded = GroupCoordinatorShard::new(0, config, 3);
    for record in &h.log {
        loaded.replay(record);
    }
    let out = loaded.complete_load(h.now + 1_000);
    assert!(out.is_empty());
    assert_eq!(loaded.next_deadline_ms(), Some(h.now + 1_000 + 45_000));
    let assigned: &Assignment = &loaded.consumer_groups["g"].members["m1"].assigned;
    assert_eq!(assigned[&TOPIC], BTreeSet::from([0, 1]));
}

#[test]
fn records_use_kafkas_layout() {
    use crate::records::{
        ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMetadataValue, ConsumerMemberKey, GroupMetadataKey,
    };
    let record = GroupRecord::ConsumerGroupMetadata {
        key: GroupMetadataKey { group: "g".into() },
        value: Some(ConsumerGroupMetadataValue { epoch: 7 }),
    };
    // Key version 3, "g"; value version 0, epoch 7, no tagged fields.
    assert_eq!(record.encode_key(), vec![0, 3, 0, 1, b'g']);
    assert_eq!(record.encode_value().unwrap(), vec![0, 0, 0, 0, 0, 7, 0]);

    let record = GroupRecord::ConsumerGroupCurrentMemberAssignment {
        key: ConsumerMemberKey { group: "g".into(), member_id: "m".into() },
        value: Some(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 2,
            previous_member_epoch: 1,
            state: 1,
            assigned_partitions: Assignment::from([(TOPIC, BTreeSet::from([3]))]),
            partitions_pending_revocation: Assignment::new(),
        }),
    };
    assert_eq!(record.encode_key(), vec![0, 8, 0, 1, b'g', 0, 1, b'm']);
    let mut expected = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 1];
    expected.push(2); // one topic (compact array: length + 1)
    expected.extend_from_slice(TOPIC.as_bytes());
    expected.extend_from_slice(&[2, 0, 0, 0, 3, 0]); // [3], tagged fields
    expected.extend_from_slice(&[1, 0]); // no pending revocation; tagged fields
    assert_eq!(record.encode_value().unwrap(), expected);
    let decoded = GroupRecord::decode(&record.encode_key(), record.encode_value().as_deref()).unwrap();
    assert_eq!(decoded, Some(record));
    // Tagged fields Kafka may add are skipped.
    let mut with_tag = vec![0, 0, 0, 0, 0, 7];
    with_tag.extend_from_slice(&[1, 0, 2, 0xab, 0xcd]);
    let decoded = GroupRecord::decode(&[0, 3, 0, 1, b'g'], Some(&with_tag)).unwrap();
    assert!(matches!(decoded, Some(GroupRecord::ConsumerGroupMetadata { value: Some(ConsumerGroupMetadataValue { epoch: 7 }), .. })));
}
