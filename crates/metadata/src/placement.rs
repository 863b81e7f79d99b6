//! Where the replicas of new partitions go (topic creation, more partitions,
//! `kafka-reassign-partitions --generate`).
//!
//! Without racks, replica `r` of partition `p` goes to broker `(p + r) mod n` in id order,
//! so leaders (the first replicas) rotate over the brokers.
//!
//! When brokers name their racks (`broker.rack`), placement follows Kafka's rack-aware
//! assignment: the brokers are listed taking one from each rack in turn (racks in name
//! order, brokers in id order), partition `p` is led by broker `p mod n` of that list,
//! and each further replica is the next broker of the list, shifted by the partition's
//! round (`p / n`) so that partitions a round apart get other followers, skipping
//! brokers on a rack that already has a replica while some rack has none (and brokers
//! that already have one). A partition so has replicas on as many racks as it has
//! replicas, or on every rack. Brokers without a rack count as one rack of their own,
//! as in KRaft.

use std::collections::{BTreeMap, BTreeSet};

/// A broker that can take replicas: its id and rack.
pub type Candidate<'a> = (i32, Option<&'a str>);

/// The replicas of partitions `first..first + count`, `factor` each, on `brokers`.
///
/// `brokers` must hold at least `factor` distinct brokers (callers refuse a larger factor
/// with their own message); their order does not matter.
pub fn place_replicas(brokers: &[Candidate<'_>], first: i32, count: i32, factor: usize) -> BTreeMap<i32, Vec<i32>> {
    let mut by_id: Vec<Candidate<'_>> = brokers.to_vec();
    by_id.sort_unstable();
    by_id.dedup_by_key(|(id, _)| *id);
    let partitions = first.max(0)..first.max(0) + count.max(0);
    let n = by_id.len();
    if n == 0 || factor == 0 {
        return partitions.map(|p| (p, Vec::new())).collect();
    }
    let factor = factor.min(n);
    if by_id.iter().all(|(_, rack)| rack.is_none()) {
        return partitions
            .map(|p| {
                let start = p as usize;
                (p, (0..factor).map(|r| by_id[(start + r) % n].0).collect())
            })
            .collect();
    }
    let arranged = rack_alternated(&by_id);
    let racks: BTreeSet<Option<&str>> = by_id.iter().map(|(_, rack)| *rack).collect();
    partitions
        .map(|p| {
            let p_index = p as usize;
            let first_index = p_index % n;
            let shift = (p_index / n) * racks.len();
            let (leader, leader_rack) = arranged[first_index];
            let mut replicas = vec![leader];
            let mut racks_used = BTreeSet::from([leader_rack]);
            let mut k = 0;
            while replicas.len() < factor {
                let index = (first_index + 1 + (shift + k) % (n - 1)) % n;
                let (broker, rack) = arranged[index];
                let rack_free = !racks_used.contains(&rack) || racks_used.len() == racks.len();
                let broker_free = !replicas.contains(&broker);
                if rack_free && broker_free {
                    replicas.push(broker);
                    racks_used.insert(rack);
                }
                k += 1;
            }
            (p, replicas)
        })
        .collect()
}

/// The brokers taken one from each rack in turn: racks in name order (no rack first),
/// each rack's brokers in id order.
fn rack_alternated<'a>(by_id: &[Candidate<'a>]) -> Vec<Candidate<'a>> {
    let mut racks: BTreeMap<Option<&'a str>, std::vec::IntoIter<i32>> = BTreeMap::new();
    let mut members: BTreeMap<Option<&'a str>, Vec<i32>> = BTreeMap::new();
    for (id, rack) in by_id {
        members.entry(*rack).or_default().push(*id);
    }
    for (rack, ids) in members {
        racks.insert(rack, ids.into_iter());
    }
    let mut arranged = Vec::with_capacity(by_id.len());
    while arranged.len() < by_id.len() {
        for (rack, ids) in &mut racks {
            if let Some(id) = ids.next() {
                arranged.push((id, *rack));
            }
        }
    }
    arranged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racks_of(brokers: &[Candidate<'_>], replicas: &[i32]) -> BTreeSet<Option<String>> {
        replicas
            .iter()
            .map(|id| brokers.iter().find(|(b, _)| b == id).and_then(|(_, rack)| rack.map(str::to_string)))
            .collect()
    }

    #[test]
    fn without_racks_partition_p_starts_at_broker_p_and_leaders_rotate() {
        let brokers = [(3, None), (1, None), (2, None)];
        let placed = place_replicas(&brokers, 0, 4, 2);
        assert_eq!(placed, BTreeMap::from([(0, vec![1, 2]), (1, vec![2, 3]), (2, vec![3, 1]), (3, vec![1, 2])]));
        assert_eq!(place_replicas(&brokers, 5, 1, 3), BTreeMap::from([(5, vec![3, 1, 2])]));
    }

    #[test]
    fn with_racks_every_partition_spans_as_many_racks_as_it_can() {
        let brokers = [(1, Some("a")), (2, Some("a")), (3, Some("b")), (4, Some("b")), (5, Some("c")), (6, Some("a"))];
        for factor in 1..=4 {
            let placed = place_replicas(&brokers, 0, 30, factor);
            for (p, replicas) in &placed {
                assert_eq!(replicas.len(), factor, "partition {p}");
                assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), factor, "partition {p} names a broker twice: {replicas:?}");
                assert_eq!(racks_of(&brokers, replicas).len(), factor.min(3), "partition {p}: {replicas:?}");
            }
            // Leaders rotate over every broker, each leading 5 of the 30 partitions.
            let mut leaders = BTreeMap::<i32, usize>::new();
            placed.values().for_each(|r| *leaders.entry(r[0]).or_default() += 1);
            assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![5; 6], "factor {factor}: {leaders:?}");
        }
    }

    #[test]
    fn with_two_racks_of_unequal_size_the_rack_alternated_list_leads() {
        // One from each rack in turn: 1 (a), 3 (b), 2 (a).
        let brokers = [(1, Some("a")), (2, Some("a")), (3, Some("b"))];
        assert_eq!(
            place_replicas(&brokers, 0, 4, 2),
            BTreeMap::from([(0, vec![1, 3]), (1, vec![3, 2]), (2, vec![2, 3]), (3, vec![1, 3])])
        );
    }

    #[test]
    fn brokers_without_a_rack_count_as_one_rack() {
        let brokers = [(1, Some("a")), (2, None), (3, None), (4, Some("a"))];
        for replicas in place_replicas(&brokers, 0, 8, 2).values() {
            assert_eq!(racks_of(&brokers, replicas).len(), 2, "{replicas:?}");
        }
    }
}
