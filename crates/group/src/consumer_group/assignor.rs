//! Server-side assignors of consumer groups (`group.consumer.assignors`).
//!
//! - `uniform` (the default): every member gets as many partitions as any other give or
//!   take one, among the partitions of the topics it subscribes to; a member keeps the
//!   partitions of its previous target where the balance allows, so a change moves only
//!   what it must (Kafka's `UniformAssignor`, sticky).
//! - `range`: per topic, the members subscribing to it (by member id) each get one
//!   contiguous range, the first ones one partition more (Kafka's `RangeAssignor`
//!   without its co-partitioning stickiness).
//!
//! Rack-aware placement is not built.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::records::{Assignment, TopicMetadata};

pub(crate) const UNIFORM: &str = "uniform";
pub(crate) const RANGE: &str = "range";

/// What the assignor knows about one member.
pub(crate) struct AssignmentMember<'a> {
    pub(crate) subscribed: BTreeSet<&'a str>,
    /// The member's previous target.
    pub(crate) previous: Option<&'a Assignment>,
}

/// A target assignment for every member, by the named assignor (`uniform` for any other
/// name; the heartbeat refuses unknown names before).
pub(crate) fn assign(
    assignor: &str,
    members: &BTreeMap<String, AssignmentMember<'_>>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> BTreeMap<String, Assignment> {
    if assignor == RANGE {
        range(members, topics)
    } else {
        uniform(members, topics)
    }
}

fn range(
    members: &BTreeMap<String, AssignmentMember<'_>>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    for (name, topic) in topics {
        let subscribers: Vec<&String> =
            members.iter().filter(|(_, m)| m.subscribed.contains(name.as_str())).map(|(id, _)| id).collect();
        if subscribers.is_empty() || topic.num_partitions <= 0 {
            continue;
        }
        let n = subscribers.len() as i32;
        let (quota, extra) = (topic.num_partitions / n, topic.num_partitions % n);
        let mut start = 0;
        for (i, member) in subscribers.into_iter().enumerate() {
            let count = quota + i32::from((i as i32) < extra);
            if count > 0 {
                if let Some(a) = out.get_mut(member) {
                    a.insert(topic.topic_id, (start..start + count).collect());
                }
            }
            start += count;
        }
    }
    out
}

fn uniform(
    members: &BTreeMap<String, AssignmentMember<'_>>,
    topics: &BTreeMap<String, TopicMetadata>,
) -> BTreeMap<String, Assignment> {
    // Which members may take a partition of each topic.
    let by_id: BTreeMap<Uuid, &str> = topics.values().map(|t| (t.topic_id, t.topic_name.as_str())).collect();
    let eligible = |member: &AssignmentMember<'_>, topic: Uuid| {
        by_id.get(&topic).is_some_and(|name| member.subscribed.contains(name))
    };
    let all: Vec<(Uuid, i32)> =
        topics.values().flat_map(|t| (0..t.num_partitions.max(0)).map(move |p| (t.topic_id, p))).collect();
    let valid: BTreeSet<(Uuid, i32)> = all.iter().copied().collect();

    // 1. Keep what each member had, if it still subscribes and the partition exists.
    let mut owner: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
    let mut counts: BTreeMap<&str, usize> = members.keys().map(|m| (m.as_str(), 0)).collect();
    for (id, member) in members {
        for (topic, partitions) in member.previous.into_iter().flatten() {
            if !eligible(member, *topic) {
                continue;
            }
            for &p in partitions {
                if valid.contains(&(*topic, p)) && !owner.contains_key(&(*topic, p)) {
                    owner.insert((*topic, p), id);
                    *counts.entry(id).or_default() += 1;
                }
            }
        }
    }
    // 2. Give each unowned partition to the eligible member with the fewest.
    for &tp in &all {
        if owner.contains_key(&tp) {
            continue;
        }
        let least = members
            .iter()
            .filter(|(_, m)| eligible(m, tp.0))
            .min_by_key(|(id, _)| (counts.get(id.as_str()).copied().unwrap_or(0), id.as_str()));
        if let Some((id, _)) = least {
            owner.insert(tp, id);
            *counts.entry(id).or_default() += 1;
        }
    }
    // 3. Balance: move a partition from a member to an eligible one with at least two
    //    fewer, until no such move exists. Each move lowers the sum of squared counts,
    //    so this ends.
    loop {
        let mut moved = false;
        let owned: Vec<((Uuid, i32), &str)> = owner.iter().rev().map(|(tp, id)| (*tp, *id)).collect();
        for (tp, from) in owned {
            let from_count = counts.get(from).copied().unwrap_or(0);
            let to = members
                .iter()
                .filter(|(id, m)| id.as_str() != from && eligible(m, tp.0))
                .map(|(id, _)| (counts.get(id.as_str()).copied().unwrap_or(0), id.as_str()))
                .min();
            if let Some((to_count, to)) = to {
                if to_count + 1 < from_count {
                    owner.insert(tp, to);
                    *counts.entry(from).or_default() -= 1;
                    *counts.entry(to).or_default() += 1;
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }

    let mut out: BTreeMap<String, Assignment> = members.keys().map(|m| (m.clone(), Assignment::new())).collect();
    for ((topic, partition), id) in owner {
        if let Some(a) = out.get_mut(id) {
            a.entry(topic).or_default().insert(partition);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, id: u128, partitions: i32) -> (String, TopicMetadata) {
        (name.into(), TopicMetadata { topic_id: Uuid::from_u128(id), topic_name: name.into(), num_partitions: partitions })
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn uniform_balances_and_covers_every_partition_once() {
        let topics = BTreeMap::from([topic("t", 1, 6), topic("u", 2, 1)]);
        let members: BTreeMap<String, AssignmentMember<'_>> = ["a", "b", "c"]
            .iter()
            .map(|m| (m.to_string(), AssignmentMember { subscribed: BTreeSet::from(["t", "u"]), previous: None }))
            .collect();
        let out = assign(UNIFORM, &members, &topics);
        let mut seen = BTreeSet::new();
        for a in out.values() {
            assert!((2..=3).contains(&count(a)), "{out:?}");
            for (t, ps) in a {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "partition assigned twice");
                }
            }
        }
        assert_eq!(seen.len(), 7);
    }

    #[test]
    fn uniform_moves_only_what_a_new_member_needs() {
        let topics = BTreeMap::from([topic("t", 1, 6)]);
        let two: BTreeMap<String, AssignmentMember<'_>> = ["a", "b"]
            .iter()
            .map(|m| (m.to_string(), AssignmentMember { subscribed: BTreeSet::from(["t"]), previous: None }))
            .collect();
        let before = assign(UNIFORM, &two, &topics);
        let mut three: BTreeMap<String, AssignmentMember<'_>> = before
            .iter()
            .map(|(m, a)| (m.clone(), AssignmentMember { subscribed: BTreeSet::from(["t"]), previous: Some(a) }))
            .collect();
        three.insert("c".into(), AssignmentMember { subscribed: BTreeSet::from(["t"]), previous: None });
        let after = assign(UNIFORM, &three, &topics);
        assert_eq!(count(&after["c"]), 2);
        for m in ["a", "b"] {
            let kept = after[m][&Uuid::from_u128(1)].is_subset(&before[m][&Uuid::from_u128(1)]);
            assert!(kept && count(&after[m]) == 2, "{m} lost more than it had to: {before:?} -> {after:?}");
        }
    }

    #[test]
    fn uniform_respects_heterogeneous_subscriptions() {
        let topics = BTreeMap::from([topic("t", 1, 4), topic("u", 2, 2)]);
        let members = BTreeMap::from([
            ("a".to_string(), AssignmentMember { subscribed: BTreeSet::from(["t"]), previous: None }),
            ("b".to_string(), AssignmentMember { subscribed: BTreeSet::from(["t", "u"]), previous: None }),
        ]);
        let out = assign(UNIFORM, &members, &topics);
        assert!(!out["a"].contains_key(&Uuid::from_u128(2)), "a does not subscribe to u");
        assert_eq!(count(&out["a"]) + count(&out["b"]), 6);
        assert_eq!(count(&out["a"]), 3);
    }

    #[test]
    fn range_gives_contiguous_ranges_by_member_id() {
        let topics = BTreeMap::from([topic("t", 1, 5)]);
        let members: BTreeMap<String, AssignmentMember<'_>> = ["b", "a"]
            .iter()
            .map(|m| (m.to_string(), AssignmentMember { subscribed: BTreeSet::from(["t"]), previous: None }))
            .collect();
        let out = assign(RANGE, &members, &topics);
        assert_eq!(out["a"][&Uuid::from_u128(1)], BTreeSet::from([0, 1, 2]));
        assert_eq!(out["b"][&Uuid::from_u128(1)], BTreeSet::from([3, 4]));
    }
}
