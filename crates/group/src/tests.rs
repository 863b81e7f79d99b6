//! Scenario tests of the coordinator: whole rebalances, timeouts, static membership,
//! offsets, and replay of everything a scenario wrote.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::api::*;
use crate::consumer_protocol::encode_subscription;
use crate::error::GroupError;
use crate::group::GroupState;
use crate::records::GroupRecord;
use crate::{GroupConfig, GroupCoordinatorShard};

const T0: i64 = 1_700_000_000_000;
const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 20_000;

/// Drives one shard: keeps the clock, hands out tokens, collects answers and every
/// record written (after a round trip through the binary format).
struct Harness {
    shard: GroupCoordinatorShard,
    now: i64,
    next_token: u64,
    answers: BTreeMap<RequestToken, Response>,
    log: Vec<GroupRecord>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() })
    }

    fn with_config(config: GroupConfig) -> Self {
        let mut shard = GroupCoordinatorShard::new(0, config, 7);
        let mut h = Harness { shard: shard.clone(), now: T0, next_token: 0, answers: BTreeMap::new(), log: Vec::new() };
        let out = shard.complete_load(T0);
        h.shard = shard;
        h.absorb(out);
        h
    }

    fn absorb(&mut self, out: Output) {
        for record in out.records {
            let key = record.encode_key();
            let value = record.encode_value();
            let decoded = GroupRecord::decode(&key, value.as_deref()).expect("own records decode").expect("known key");
            assert_eq!(decoded, record);
            self.log.push(decoded);
        }
        for (token, response) in out.responses {
            assert!(self.answers.insert(token, response).is_none(), "token {token:?} answered twice");
        }
    }

    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    /// Moves the clock forward, ticking at every deadline on the way as the broker's
    /// timer does.
    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(deadline) = self.shard.next_deadline_ms().filter(|&d| d <= target) {
            self.now = self.now.max(deadline);
            let out = self.shard.tick(self.now);
            self.absorb(out);
        }
        self.now = target;
        let out = self.shard.tick(self.now);
        self.absorb(out);
    }

    fn join(&mut self, request: JoinGroup) -> RequestToken {
        let token = self.token();
        let out = self.shard.join_group(token, &request, self.now);
        self.absorb(out);
        token
    }

    fn sync(&mut self, request: SyncGroup) -> RequestToken {
        let token = self.token();
        let out = self.shard.sync_group(token, &request, self.now);
        self.absorb(out);
        token
    }

    fn answered(&self, token: RequestToken) -> bool {
        self.answers.contains_key(&token)
    }

    fn join_result(&mut self, token: RequestToken) -> JoinGroupResult {
        match self.answers.remove(&token) {
            Some(Response::Join(j)) => j,
            other => panic!("expected a JoinGroup answer for {token:?}, got {other:?}"),
        }
    }

    fn sync_result(&mut self, token: RequestToken) -> SyncGroupResult {
        match self.answers.remove(&token) {
            Some(Response::Sync(s)) => s,
            other => panic!("expected a SyncGroup answer for {token:?}, got {other:?}"),
        }
    }

    fn heartbeat(&mut self, group: &str, member_id: &str, generation_id: i32) -> Result<(), GroupError> {
        let request =
            Heartbeat { group_id: group.into(), generation_id, member_id: member_id.into(), group_instance_id: None };
        self.shard.heartbeat(&request, self.now)
    }

    fn commit(&mut self, request: OffsetCommit) -> OffsetCommitResult {
        let (result, out) = self.shard.offset_commit(&request, self.now);
        self.absorb(out);
        result
    }

    fn state(&self, group: &str) -> GroupState {
        self.shard.groups.get(group).map_or(GroupState::Dead, |g| g.state)
    }

    /// A JoinGroup v4+ client's first join: it is told its member id, then joins with
    /// it. Returns the member id and the token of the second (waiting) join.
    fn join_new(&mut self, group: &str, client: &str, protocols: &[&str]) -> (String, RequestToken) {
        let first = self.join(join_request(group, "", None, protocols));
        let answer = self.join_result(first);
        assert_eq!(answer.error, Some(GroupError::MemberIdRequired));
        assert!(answer.member_id.starts_with("client-"), "member id {} names the client", answer.member_id);
        let _ = client;
        let second = self.join(join_request(group, &answer.member_id, None, protocols));
        (answer.member_id, second)
    }

    /// Forms a stable group of `n` dynamic members (initial delay included). Returns
    /// the member ids, leader first.
    fn stable_group(&mut self, group: &str, n: usize) -> (Vec<String>, i32) {
        let mut tokens = Vec::new();
        for i in 0..n {
            tokens.push(self.join_new(group, &format!("c{i}"), &["range"]).1);
        }
        // The initial delay, extended while members arrived during it.
        while !tokens.iter().all(|t| self.answered(*t)) {
            assert!(self.now < T0 + i64::from(REBALANCE_MS), "the first rebalance never completed");
            self.advance(3_000);
        }
        let answers: Vec<JoinGroupResult> = tokens.into_iter().map(|t| self.join_result(t)).collect();
        let generation = answers[0].generation_id;
        let leader = answers[0].leader.clone();
        let mut members: Vec<String> = answers.iter().map(|a| a.member_id.clone()).collect();
        members.sort_by_key(|m| *m != leader);
        self.sync_all(group, &members, generation);
        assert_eq!(self.state(group), GroupState::Stable);
        (members, generation)
    }

    /// Every member syncs, followers first; the leader (first) assigns `a-<member>`.
    fn sync_all(&mut self, group: &str, members: &[String], generation: i32) -> Vec<SyncGroupResult> {
        let mut tokens = Vec::new();
        for member in members.iter().skip(1) {
            tokens.push(self.sync(sync_request(group, member, generation, Vec::new())));
        }
        let assignments = members.iter().map(|m| (m.clone(), Bytes::from(format!("a-{m}")))).collect();
        tokens.insert(0, self.sync(sync_request(group, &members[0], generation, assignments)));
        tokens.into_iter().map(|t| self.sync_result(t)).collect()
    }
}

fn join_request(group: &str, member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinGroup {
    JoinGroup {
        group_id: group.into(),
        member_id: member_id.into(),
        group_instance_id: instance.map(Into::into),
        require_known_member_id: true,
        support_skipping_assignment: false,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|name| Protocol { name: (*name).into(), metadata: Bytes::from(encode_subscription(&["topic"])) })
            .collect(),
        reason: None,
    }
}

fn sync_request(group: &str, member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncGroup {
    SyncGroup {
        group_id: group.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: None,
        assignments,
    }
}

fn commit_request(group: &str, member_id: &str, generation_id: i32, offsets: &[(&str, i32, i64)]) -> OffsetCommit {
    let mut topics: Vec<(String, Vec<PartitionCommit>)> = Vec::new();
    for &(topic, partition, offset) in offsets {
        let commit = PartitionCommit { partition, offset, leader_epoch: 3, metadata: Some(format!("m{offset}")) };
        match topics.iter_mut().find(|(t, _)| t == topic) {
            Some((_, partitions)) => partitions.push(commit),
            None => topics.push((topic.to_string(), vec![commit])),
        }
    }
    OffsetCommit {
        group_id: group.into(),
        generation_id,
        member_id: member_id.into(),
        group_instance_id: None,
        retention_time_ms: -1,
        api_version: 9,
        topics,
    }
}

fn fetch(h: &Harness, group: &str, partitions: &[(&str, i32)]) -> Vec<(String, i32, i64)> {
    let mut topics: Vec<(String, Vec<i32>)> = Vec::new();
    for &(t, p) in partitions {
        match topics.iter_mut().find(|(x, _)| x == t) {
            Some((_, ps)) => ps.push(p),
            None => topics.push((t.to_string(), vec![p])),
        }
    }
    let result =
        h.shard.offset_fetch(&OffsetFetch { group_id: group.into(), topics: Some(topics), require_stable: false, member_id: None, member_epoch: -1 });
    assert_eq!(result.error, None);
    result
        .topics
        .into_iter()
        .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p.partition, p.offset)))
        .collect()
}

#[test]
fn three_members_join_and_sync_a_first_generation() {
    let mut h = Harness::new();
    // Two prefer range, one prefers roundrobin; all support both.
    let (m1, t1) = h.join_new("g", "c1", &["range", "roundrobin"]);
    let (m2, t2) = h.join_new("g", "c2", &["roundrobin", "range"]);
    let (m3, t3) = h.join_new("g", "c3", &["range", "roundrobin"]);
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);

    // The first rebalance of an empty group waits group.initial.rebalance.delay.ms, and
    // once more because members kept arriving during the delay.
    h.advance(2_999);
    assert!(!h.answered(t1), "nothing before the initial delay");
    h.advance(1);
    assert!(!h.answered(t1), "delay extended: members joined during it");
    h.advance(3_000);
    assert!(h.answered(t1) && h.answered(t2) && h.answered(t3));

    let (a1, a2, a3) = (h.join_result(t1), h.join_result(t2), h.join_result(t3));
    for a in [&a1, &a2, &a3] {
        assert_eq!(a.error, None);
        assert_eq!(a.generation_id, 1);
        assert_eq!(a.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(a.protocol_name.as_deref(), Some("range"), "two votes for range, one for roundrobin");
        assert_eq!(a.leader, a1.leader, "everybody agrees on the leader");
    }
    assert_eq!(h.state("g"), GroupState::CompletingRebalance);
    let leader = a1.leader.clone();
    let by_member: BTreeMap<&str, &JoinGroupResult> =
        [(&m1, &a1), (&m2, &a2), (&m3, &a3)].into_iter().map(|(m, a)| (m.as_str(), a)).collect();
    assert_eq!(by_member[leader.as_str()].members.len(), 3, "the leader sees every member");
    for (member, answer) in &by_member {
        assert_eq!(answer.member_id, *member);
        if *member != leader {
            assert!(answer.members.is_empty(), "followers see no members");
        }
    }

    // Followers sync first and wait; the leader's sync answers everybody.
    let followers: Vec<&String> = [&m1, &m2, &m3].into_iter().filter(|m| **m != leader).collect();
    let f1 = h.sync(sync_request("g", followers[0], 1, Vec::new()));
    let f2 = h.sync(sync_request("g", followers[1], 1, Vec::new()));
    assert!(!h.answered(f1) && !h.answered(f2));
    let records_before = h.log.len();
    let assignment: Vec<(String, Bytes)> =
        [&m1, &m2, &m3].iter().map(|m| ((*m).clone(), Bytes::from(format!("a-{m}")))).collect();
    let tl = h.sync(sync_request("g", &leader, 1, assignment));
    assert_eq!(h.state("g"), GroupState::Stable);
    for (token, member) in [(f1, followers[0]), (f2, followers[1]), (tl, &leader)] {
        let s = h.sync_result(token);
        assert_eq!(s.error, None);
        assert_eq!(s.assignment, Bytes::from(format!("a-{member}")));
        assert_eq!(s.protocol_name.as_deref(), Some("range"));
    }
    // The leader's sync stored the group with everybody's assignment.
    match &h.log[records_before..] {
        [GroupRecord::GroupMetadata { value: Some(v), .. }] => {
            assert_eq!(v.generation, 1);
            assert_eq!(v.leader.as_deref(), Some(leader.as_str()));
            assert_eq!(v.members.len(), 3);
            assert!(v.members.iter().all(|m| m.assignment == format!("a-{}", m.member_id)));
        }
        other => panic!("expected one group record, got {other:?}"),
    }
    for m in [&m1, &m2, &m3] {
        assert_eq!(h.heartbeat("g", m, 1), Ok(()));
    }
}

#[test]
fn generations_advance_and_stale_ones_are_refused() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", 2);
    assert_eq!(generation, 1);

    // A third member arrives: a rebalance starts; the others learn it from heartbeats.
    let (m3, t3) = h.join_new("g", "c3", &["range"]);
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat("g", &members[1], 1), Err(GroupError::RebalanceInProgress));
    // Commits from the current generation are still accepted while preparing.
    let result = h.commit(commit_request("g", &members[1], 1, &[("topic", 0, 5)]));
    assert_eq!(result.topics[0].1, vec![(0, None)]);

    let t0 = h.join(join_request("g", &members[0], None, &["range"]));
    assert!(!h.answered(t3), "still waiting for the second member");
    let t1 = h.join(join_request("g", &members[1], None, &["range"]));
    // Everybody rejoined: no need to wait for the rebalance timeout.
    let answers = [h.join_result(t0), h.join_result(t1), h.join_result(t3)];
    assert!(answers.iter().all(|a| a.generation_id == 2 && a.error.is_none()));
    assert_eq!(h.state("g"), GroupState::CompletingRebalance);

    // The old generation is refused everywhere.
    assert_eq!(h.heartbeat("g", &members[0], 1), Err(GroupError::IllegalGeneration));
    let stale = h.sync(sync_request("g", &members[0], 1, Vec::new()));
    assert_eq!(h.sync_result(stale).error, Some(GroupError::IllegalGeneration));
    let result = h.commit(commit_request("g", &members[0], 1, &[("topic", 0, 6)]));
    assert_eq!(result.topics[0].1, vec![(0, Some(GroupError::IllegalGeneration))]);
    // Members of the new generation without their assignment may not commit yet.
    let result = h.commit(commit_request("g", &m3, 2, &[("topic", 0, 6)]));
    assert_eq!(result.topics[0].1, vec![(0, Some(GroupError::RebalanceInProgress))]);
    // Unknown members are unknown.
    assert_eq!(h.heartbeat("g", "nobody", 2), Err(GroupError::UnknownMemberId));
    assert_eq!(h.heartbeat("other", "nobody", 2), Err(GroupError::UnknownMemberId));

    let leader = answers[0].leader.clone();
    let mut all = vec![leader.clone()];
    all.extend([members[0].clone(), members[1].clone(), m3].into_iter().filter(|m| *m != leader));
    let results = h.sync_all("g", &all, 2);
    assert!(results.iter().all(|r| r.error.is_none()));
    assert_eq!(fetch(&h, "g", &[("topic", 0)]), vec![("topic".to_string(), 0, 5)]);
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", 3);
    let silent = members[2].clone();

    h.advance(i64::from(SESSION_MS) - 1);
    assert_eq!(h.heartbeat("g", &members[0], generation), Ok(()));
    assert_eq!(h.heartbeat("g", &members[1], generation), Ok(()));
    assert_eq!(h.state("g"), GroupState::Stable);
    h.advance(1);
    // The silent member's session (started by its sync) has run out.
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
    assert_eq!(h.heartbeat("g", &silent, generation), Err(GroupError::UnknownMemberId));
    assert_eq!(h.heartbeat("g", &members[0], generation), Err(GroupError::RebalanceInProgress));

    let t0 = h.join(join_request("g", &members[0], None, &["range"]));
    let t1 = h.join(join_request("g", &members[1], None, &["range"]));
    let (a0, a1) = (h.join_result(t0), h.join_result(t1));
    assert_eq!(a0.generation_id, generation + 1);
    assert_eq!(a1.generation_id, generation + 1);
    let leader_view = if a0.leader == members[0] { &a0 } else { &a1 };
    assert_eq!(leader_view.members.len(), 2, "the expired member is gone");
}

#[test]
fn members_that_do_not_rejoin_in_time_are_dropped_from_the_rebalance() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", 2);
    // The leader rejoins (forcing a rebalance); the follower neither rejoins nor
    // heartbeats, so the rebalance timeout ends the join phase without it.
    let t0 = h.join(join_request("g", &members[0], None, &["range"]));
    h.advance(i64::from(SESSION_MS) - 1);
    assert!(!h.answered(t0));
    h.advance(1);
    // The follower's session ran out first, which also ends the join phase.
    let a0 = h.join_result(t0);
    assert_eq!(a0.generation_id, generation + 1);
    assert_eq!(a0.members.len(), 1);
    assert_eq!(h.heartbeat("g", &members[1], generation + 1), Err(GroupError::UnknownMemberId));
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let t0 = h.join_new("g", "c0", &["range"]).1;
    let t1 = h.join_new("g", "c1", &["range"]).1;
    h.advance(6_000);
    let (a0, a1) = (h.join_result(t0), h.join_result(t1));
    let (leader, follower) = if a0.leader == a0.member_id { (a0, a1) } else { (a1, a0) };
    // Only the leader syncs; the follower keeps heartbeating but never syncs.
    let ts = h.sync(sync_request("g", &leader.member_id, 1, vec![(follower.member_id.clone(), Bytes::from("x"))]));
    assert_eq!(h.sync_result(ts).error, None);
    for _ in 0..3 {
        h.advance(i64::from(REBALANCE_MS) / 4);
        assert_eq!(h.heartbeat("g", &follower.member_id, 1), Ok(()));
        assert_eq!(h.heartbeat("g", &leader.member_id, 1), Ok(()));
    }
    h.advance(i64::from(REBALANCE_MS) / 4);
    assert_eq!(h.state("g"), GroupState::PreparingRebalance, "the late member forced a rebalance");
    assert_eq!(h.heartbeat("g", &follower.member_id, 1), Err(GroupError::UnknownMemberId));
}

fn static_join(group: &str, member_id: &str, instance: &str) -> JoinGroup {
    join_request(group, member_id, Some(instance), &["range"])
}

/// Forms a stable group of static members i0, i1; returns their member ids (i0 first)
/// and the leader.
fn stable_static_group(h: &mut Harness) -> (Vec<String>, String) {
    let t0 = h.join(static_join("g", "", "i0"));
    let t1 = h.join(static_join("g", "", "i1"));
    h.advance(6_000);
    let (a0, a1) = (h.join_result(t0), h.join_result(t1));
    assert!(a0.member_id.starts_with("i0-") && a1.member_id.starts_with("i1-"), "static ids name the instance");
    let leader = a0.leader.clone();
    let mut order = vec![a0.member_id.clone(), a1.member_id.clone()];
    order.sort_by_key(|m| *m != leader);
    h.sync_all("g", &order, 1);
    (vec![a0.member_id, a1.member_id], leader)
}

#[test]
fn a_static_member_rejoins_without_a_rebalance_and_fences_its_old_id() {
    let mut h = Harness::new();
    let (ids, _leader) = stable_static_group(&mut h);
    let old = ids[1].clone();
    let records_before = h.log.len();

    // Instance i1 restarts: it joins again without a member id, same metadata.
    let t = h.join(static_join("g", "", "i1"));
    let answer = h.join_result(t);
    assert_eq!(answer.error, None);
    assert_eq!(answer.generation_id, 1, "no new generation");
    assert_ne!(answer.member_id, old);
    assert!(answer.member_id.starts_with("i1-"));
    assert_eq!(h.state("g"), GroupState::Stable, "no rebalance");
    assert_eq!(h.log.len(), records_before + 1, "the new member id is stored");

    // Its sync returns the assignment the old incarnation had.
    let mut sync = sync_request("g", &answer.member_id, 1, Vec::new());
    sync.group_instance_id = Some("i1".into());
    let ts = h.sync(sync);
    assert_eq!(h.sync_result(ts).assignment, Bytes::from(format!("a-{old}")));

    // The old incarnation is fenced wherever it shows up with its instance id.
    let hb = Heartbeat {
        group_id: "g".into(),
        generation_id: 1,
        member_id: old.clone(),
        group_instance_id: Some("i1".into()),
    };
    assert_eq!(h.shard.heartbeat(&hb, h.now), Err(GroupError::FencedInstanceId));
    let tj = h.join(static_join("g", &old, "i1"));
    assert_eq!(h.join_result(tj).error, Some(GroupError::FencedInstanceId));
    let mut commit = commit_request("g", &old, 1, &[("topic", 0, 1)]);
    commit.group_instance_id = Some("i1".into());
    assert_eq!(h.commit(commit).topics[0].1, vec![(0, Some(GroupError::FencedInstanceId))]);
    // Without its instance id the old id is simply unknown.
    assert_eq!(h.heartbeat("g", &old, 1), Err(GroupError::UnknownMemberId));
    // The new one and the other member carry on.
    let hb = Heartbeat { member_id: answer.member_id.clone(), ..hb };
    assert_eq!(h.shard.heartbeat(&hb, h.now), Ok(()));
    assert_eq!(h.heartbeat("g", &ids[0], 1), Ok(()));
}

#[test]
fn a_rejoining_static_leader_is_told_to_skip_the_assignment_on_v9() {
    let mut h = Harness::new();
    let (ids, leader) = stable_static_group(&mut h);
    let instance = if leader == ids[0] { "i0" } else { "i1" };

    let mut old_client = static_join("g", "", instance);
    old_client.support_skipping_assignment = false;
    let t = h.join(old_client);
    let answer = h.join_result(t);
    assert_eq!(answer.leader, leader, "pre-v9: the previous leader id, so the member does not assign");
    assert!(answer.members.is_empty() && !answer.skip_assignment);

    let mut new_client = static_join("g", "", instance);
    new_client.support_skipping_assignment = true;
    let t = h.join(new_client);
    let answer = h.join_result(t);
    assert_eq!(answer.leader, answer.member_id, "v9: it learns it leads");
    assert!(answer.skip_assignment);
    assert_eq!(answer.members.len(), 2);
    assert_eq!(h.state("g"), GroupState::Stable);
}

#[test]
fn a_static_member_replaced_during_completing_rebalance_fences_the_waiting_sync() {
    let mut h = Harness::new();
    let t0 = h.join(static_join("g", "", "i0"));
    let t1 = h.join(static_join("g", "", "i1"));
    h.advance(6_000);
    let (a0, a1) = (h.join_result(t0), h.join_result(t1));
    let follower = if a0.leader == a0.member_id { a1 } else { a0 };
    let instance = if follower.member_id.starts_with("i0-") { "i0" } else { "i1" };
    let mut sync = sync_request("g", &follower.member_id, 1, Vec::new());
    sync.group_instance_id = Some(instance.into());
    let waiting = h.sync(sync);
    assert!(!h.answered(waiting));

    // A second process with the same instance id starts: the first one is fenced.
    let t = h.join(static_join("g", "", instance));
    assert_eq!(h.sync_result(waiting).error, Some(GroupError::FencedInstanceId));
    assert_eq!(h.state("g"), GroupState::PreparingRebalance, "the leader may have assigned to the old id");
    assert!(!h.answered(t));
}

#[test]
fn joins_are_validated_as_kafka_validates_them() {
    let mut h = Harness::new();
    let mut short = join_request("g", "", None, &["range"]);
    short.session_timeout_ms = 5_999;
    let t = h.join(short);
    assert_eq!(h.join_result(t).error, Some(GroupError::InvalidSessionTimeout));

    let mut no_type = join_request("g", "", None, &["range"]);
    no_type.protocol_type = String::new();
    let t = h.join(no_type);
    assert_eq!(h.join_result(t).error, Some(GroupError::InconsistentGroupProtocol));
    assert!(h.shard.groups.is_empty(), "a refused first join leaves no group behind");

    let t = h.join(join_request("", "", None, &["range"]));
    assert_eq!(h.join_result(t).error, Some(GroupError::InvalidGroupId));
    let t = h.join(join_request("g", "made-up", None, &["range"]));
    assert_eq!(h.join_result(t).error, Some(GroupError::UnknownMemberId));

    let (members, _) = h.stable_group("g", 1);
    let t = h.join(join_request("g", "", None, &["roundrobin"]));
    assert_eq!(h.join_result(t).error, Some(GroupError::InconsistentGroupProtocol), "no protocol in common");
    let mut other_type = join_request("g", "", None, &["range"]);
    other_type.protocol_type = "connect".into();
    let t = h.join(other_type);
    assert_eq!(h.join_result(t).error, Some(GroupError::InconsistentGroupProtocol));
    let mut wrong_name = sync_request("g", &members[0], 1, Vec::new());
    wrong_name.protocol_name = Some("roundrobin".into());
    let t = h.sync(wrong_name);
    assert_eq!(h.sync_result(t).error, Some(GroupError::InconsistentGroupProtocol));
}

#[test]
fn group_max_size_turns_away_extra_members() {
    let mut h = Harness::with_config(GroupConfig {
        offsets_topic_num_partitions: 1,
        group_max_size: 2,
        ..GroupConfig::default()
    });
    h.stable_group("g", 2);
    let t = h.join(join_request("g", "", None, &["range"]));
    let answer = h.join_result(t);
    assert_eq!(answer.error, Some(GroupError::GroupMaxSizeReached), "checked before handing out an id");
    assert_eq!(answer.member_id, "");
    // Members already in the group may rejoin.
    let member = h.shard.groups["g"].members.keys().next().cloned().unwrap();
    let t = h.join(join_request("g", &member, None, &["range"]));
    assert!(!h.answered(t), "the leader's rejoin starts a rebalance");
    assert_eq!(h.state("g"), GroupState::PreparingRebalance);
}

#[test]
fn requests_are_refused_while_loading_and_for_other_partitions() {
    let mut shard = GroupCoordinatorShard::new(47, GroupConfig::default(), 1);
    let t = RequestToken(1);
    let out = shard.join_group(t, &join_request("group", "", None, &["range"]), T0);
    assert_eq!(
        out.responses,
        vec![(t, Response::Join(JoinGroupResult::error("", GroupError::CoordinatorLoadInProgress)))]
    );
    let out = shard.sync_group(t, &sync_request("group", "m", 1, Vec::new()), T0);
    assert_eq!(out.responses, vec![(t, Response::Sync(SyncGroupResult::error(GroupError::RebalanceInProgress)))]);
    let hb = Heartbeat { group_id: "group".into(), generation_id: 1, member_id: "m".into(), group_instance_id: None };
    assert_eq!(shard.heartbeat(&hb, T0), Ok(()), "answered blindly while loading");
    let fetched = shard.offset_fetch(&OffsetFetch { group_id: "group".into(), topics: None, require_stable: false, member_id: None, member_epoch: -1 });
    assert_eq!(fetched.error, Some(GroupError::CoordinatorLoadInProgress));

    let _ = shard.complete_load(T0);
    // "group" lives on partition 47 of 50 ("a" too, "ab" on 5).
    let out = shard.join_group(t, &join_request("ab", "", None, &["range"]), T0);
    assert_eq!(out.responses, vec![(t, Response::Join(JoinGroupResult::error("", GroupError::NotCoordinator)))]);
    let out = shard.join_group(t, &join_request("group", "", None, &["range"]), T0);
    assert!(matches!(&out.responses[..], [(_, Response::Join(j))] if j.error == Some(GroupError::MemberIdRequired)));
}

#[test]
fn leave_group_removes_members_in_a_batch_and_by_instance_id() {
    let mut h = Harness::new();
    let (ids, _) = stable_static_group(&mut h);
    let request = LeaveGroup {
        group_id: "g".into(),
        members: vec![
            LeavingMember { member_id: String::new(), group_instance_id: Some("i0".into()), reason: None },
            LeavingMember { member_id: "stranger".into(), group_instance_id: None, reason: None },
            LeavingMember { member_id: "stale".into(), group_instance_id: Some("i1".into()), reason: None },
            LeavingMember { member_id: ids[1].clone(), group_instance_id: Some("i1".into()), reason: None },
        ],
    };
    let (result, out) = h.shard.leave_group(&request, h.now);
    h.absorb(out);
    let errors: Vec<Option<GroupError>> = result.members.iter().map(|(_, e)| *e).collect();
    assert_eq!(errors, vec![None, Some(GroupError::UnknownMemberId), Some(GroupError::FencedInstanceId), None]);
    // Everybody left: the join phase ends at once with nobody, and the group is empty.
    assert_eq!(h.state("g"), GroupState::Empty);
    match h.log.last() {
        Some(GroupRecord::GroupMetadata { value: Some(v), .. }) => {
            assert_eq!(v.generation, 2);
            assert!(v.members.is_empty());
            assert_eq!(v.protocol, None);
        }
        other => panic!("expected the empty group's record, got {other:?}"),
    }
}

#[test]
fn offsets_are_committed_fetched_and_deleted() {
    let mut h = Harness::new();
    // A consumer outside group management (generation -1) creates the group.
    let result = h.commit(commit_request("simple", "", -1, &[("t", 0, 10), ("t", 1, 20), ("u", 0, 30)]));
    assert!(result.topics.iter().flat_map(|(_, ps)| ps).all(|(_, e)| e.is_none()));
    assert_eq!(
        fetch(&h, "simple", &[("t", 0), ("t", 1), ("t", 2), ("u", 0)]),
        vec![("t".into(), 0, 10), ("t".into(), 1, 20), ("t".into(), 2, -1), ("u".into(), 0, 30)]
    );
    let all = h.shard.offset_fetch(&OffsetFetch { group_id: "simple".into(), topics: None, require_stable: false, member_id: None, member_epoch: -1 });
    assert_eq!(all.topics.len(), 2);
    assert_eq!(all.topics[0].1[0].metadata, "m10");
    assert_eq!(all.topics[0].1[0].leader_epoch, 3);
    assert_eq!(fetch(&h, "unknown", &[("t", 0)]), vec![("t".into(), 0, -1)]);

    // Oversized metadata is refused per partition; the rest is stored.
    let mut big = commit_request("simple", "", -1, &[("t", 0, 11), ("t", 1, 21)]);
    big.topics[0].1[1].metadata = Some("x".repeat(4097));
    let result = h.commit(big);
    assert_eq!(result.topics[0].1, vec![(0, None), (1, Some(GroupError::OffsetMetadataTooLarge))]);
    assert_eq!(fetch(&h, "simple", &[("t", 0), ("t", 1)]), vec![("t".into(), 0, 11), ("t".into(), 1, 20)]);

    // A first commit with a generation is from a group this coordinator never saw.
    let result = h.commit(commit_request("ghost", "m", 3, &[("t", 0, 1)]));
    assert_eq!(result.topics[0].1, vec![(0, Some(GroupError::IllegalGeneration))]);
    assert!(!h.shard.groups.contains_key("ghost"));

    let (result, out) = h.shard.offset_delete("simple", &[("t".into(), vec![0, 1]), ("v".into(), vec![0])]);
    h.absorb(out);
    assert_eq!(result.error, None);
    assert_eq!(fetch(&h, "simple", &[("t", 0), ("u", 0)]), vec![("t".into(), 0, -1), ("u".into(), 0, 30)]);
    let (result, out) = h.shard.offset_delete("simple", &[("u".into(), vec![0])]);
    h.absorb(out);
    assert_eq!(result.error, None);
    assert!(h.shard.list_groups(&[], &[]).groups.is_empty(), "no offsets left: the group is gone");
    let (result, _) = h.shard.offset_delete("simple", &[("u".into(), vec![0])]);
    assert_eq!(result.error, Some(GroupError::GroupIdNotFound));
}

#[test]
fn active_groups_protect_their_offsets() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", 1);
    let result = h.commit(commit_request("g", &members[0], generation, &[("topic", 0, 7), ("old", 0, 3)]));
    assert!(result.topics.iter().flat_map(|(_, ps)| ps).all(|(_, e)| e.is_none()));
    // Only members commit to an active group.
    let result = h.commit(commit_request("g", "", -1, &[("topic", 0, 99)]));
    assert_eq!(result.topics[0].1, vec![(0, Some(GroupError::UnknownMemberId))]);

    let (result, out) = h.shard.offset_delete("g", &[("topic".into(), vec![0]), ("old".into(), vec![0])]);
    h.absorb(out);
    assert_eq!(result.topics[0].1, vec![(0, Some(GroupError::GroupSubscribedToTopic))]);
    assert_eq!(result.topics[1].1, vec![(0, None)]);
    assert_eq!(fetch(&h, "g", &[("topic", 0), ("old", 0)]), vec![("topic".into(), 0, 7), ("old".into(), 0, -1)]);

    let (results, _) = h.shard.delete_groups(&["g".into(), "nope".into()]);
    assert_eq!(
        results,
        vec![("g".into(), Some(GroupError::NonEmptyGroup)), ("nope".into(), Some(GroupError::GroupIdNotFound))]
    );
    let leave = LeaveGroup {
        group_id: "g".into(),
        members: vec![LeavingMember { member_id: members[0].clone(), group_instance_id: None, reason: None }],
    };
    let (_, out) = h.shard.leave_group(&leave, h.now);
    h.absorb(out);
    let (results, out) = h.shard.delete_groups(&["g".into()]);
    h.absorb(out);
    assert_eq!(results, vec![("g".into(), None)]);
    let tail: Vec<&GroupRecord> = h.log.iter().rev().take(2).collect();
    assert!(tail.iter().all(|r| r.encode_value().is_none()), "offset and group tombstones");
    assert_eq!(h.shard.describe_group("g").state, "Dead");
}

#[test]
fn offsets_of_an_empty_group_expire_after_the_retention() {
    let config = GroupConfig {
        offsets_topic_num_partitions: 1,
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..GroupConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (members, generation) = h.stable_group("g", 1);
    h.commit(commit_request("g", &members[0], generation, &[("topic", 0, 7)]));
    h.commit(commit_request("simple", "", -1, &[("topic", 0, 1)]));
    // Offsets of a stable group consuming the topic never expire.
    for _ in 0..70 {
        h.advance(1_000);
        assert_eq!(h.heartbeat("g", &members[0], generation), Ok(()));
    }
    assert_eq!(fetch(&h, "g", &[("topic", 0)]), vec![("topic".into(), 0, 7)]);
    // ...but a simple group's do, 60 s after the commit.
    assert!(!h.shard.groups.contains_key("simple"));

    let leave = LeaveGroup {
        group_id: "g".into(),
        members: vec![LeavingMember { member_id: members[0].clone(), group_instance_id: None, reason: None }],
    };
    let (_, out) = h.shard.leave_group(&leave, h.now);
    h.absorb(out);
    assert_eq!(h.state("g"), GroupState::Empty);
    h.advance(59_000);
    assert_eq!(fetch(&h, "g", &[("topic", 0)]), vec![("topic".into(), 0, 7)], "retention counts from becoming empty");
    h.advance(1_000);
    assert!(!h.shard.groups.contains_key("g"), "offsets expired and the empty group went with them");
    let expected_tail = [
        GroupRecord::OffsetCommit {
            key: crate::records::OffsetCommitKey { group: "g".into(), topic: "topic".into(), partition: 0 },
            value: None,
        },
        GroupRecord::GroupMetadata { key: crate::records::GroupMetadataKey { group: "g".into() }, value: None },
    ];
    assert_eq!(h.log[h.log.len() - 2..], expected_tail);
}

#[test]
fn replaying_the_records_rebuilds_the_same_state() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", 3);
    h.commit(commit_request("g", &members[0], generation, &[("topic", 0, 7), ("topic", 1, 8)]));
    h.commit(commit_request("g", &members[1], generation, &[("topic", 0, 9)]));
    let (static_ids, _) = {
        let mut other = Harness::new();
        std::mem::swap(&mut other.shard, &mut h.shard);
        // Static group "s" on the same shard.
        let t0 = other.join(static_join("s", "", "i0"));
        let t1 = other.join(static_join("s", "", "i1"));
        other.advance(6_000);
        let (a0, a1) = (other.join_result(t0), other.join_result(t1));
        let leader = a0.leader.clone();
        let mut order = vec![a0.member_id.clone(), a1.member_id.clone()];
        order.sort_by_key(|m| *m != leader);
        other.sync_all("s", &order, 1);
        let t = other.join(static_join("s", "", "i1"));
        assert_eq!(other.join_result(t).error, None);
        std::mem::swap(&mut other.shard, &mut h.shard);
        h.log.extend(other.log);
        (order, leader)
    };
    assert_eq!(static_ids.len(), 2);
    h.commit(commit_request("simple", "", -1, &[("t", 0, 1), ("t", 1, 2)]));
    let (_, out) = h.shard.offset_delete("simple", &[("t".into(), vec![0])]);
    h.absorb(out);
    h.commit(commit_request("gone", "", -1, &[("t", 0, 1)]));
    let (_, out) = h.shard.delete_groups(&["gone".into()]);
    h.absorb(out);
    // A group that became empty keeps its offsets and its emptiness timestamp.
    let (m, gen) = h.stable_group("e", 1);
    h.commit(commit_request("e", &m[0], gen, &[("t", 3, 33)]));
    let leave = LeaveGroup {
        group_id: "e".into(),
        members: vec![LeavingMember { member_id: m[0].clone(), group_instance_id: None, reason: None }],
    };
    let (_, out) = h.shard.leave_group(&leave, h.now);
    h.absorb(out);

    let mut replayed = GroupCoordinatorShard::new(0, h.shard.config.clone(), 99);
    for record in &h.log {
        replayed.replay(record);
    }
    let _ = replayed.complete_load(h.now);
    let live = h.shard.durable_state();
    assert_eq!(live.keys().collect::<Vec<_>>(), vec!["e", "g", "s", "simple"]);
    assert_eq!(replayed.durable_state(), live);
    assert_eq!(replayed.describe_group("g").state, "Stable");
    assert_eq!(replayed.describe_group("e").state, "Empty");

    // The loaded group works: members heartbeat with their generation, and a silent
    // one expires one session after the load.
    let mut loaded = Harness::new();
    loaded.shard = replayed;
    loaded.now = h.now;
    assert_eq!(loaded.heartbeat("g", &members[1], generation + 1), Err(GroupError::IllegalGeneration));
    loaded.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(loaded.heartbeat("g", &members[0], generation), Ok(()));
    loaded.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(loaded.state("g"), GroupState::PreparingRebalance, "the silent members expired");
    assert_eq!(loaded.heartbeat("g", &members[0], generation), Err(GroupError::RebalanceInProgress));
    assert_eq!(loaded.heartbeat("g", &members[1], generation), Err(GroupError::UnknownMemberId));
}

#[test]
fn unloading_answers_every_waiting_request() {
    let mut h = Harness::new();
    let (_, t1) = h.join_new("g", "c1", &["range"]);
    let (_, t2) = h.join_new("g", "c2", &["range"]);
    let out = h.shard.unload();
    h.absorb(out);
    assert_eq!(h.join_result(t1).error, Some(GroupError::NotCoordinator));
    assert_eq!(h.join_result(t2).error, Some(GroupError::NotCoordinator));
    assert!(h.shard.is_loading());
}

#[test]
fn next_deadline_tells_when_to_tick() {
    let mut h = Harness::new();
    assert_eq!(h.shard.next_deadline_ms(), Some(T0 + 600_000), "only the retention check");
    let (_, _) = h.join_new("g", "c1", &["range"]);
    assert_eq!(h.shard.next_deadline_ms(), Some(T0 + 3_000), "the initial rebalance delay");
}
