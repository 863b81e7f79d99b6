//! A history checker for fault tests: what clients were told and saw, against what the
//! replicas hold at the end.
//!
//! A [`History`] has three parts:
//! - **writes**: every value a producer tried to write (values are unique per test), the
//!   partition it was sent to and its outcome: acknowledged at an offset (or at an
//!   unknown offset, see [`Outcome::Acked`]), failed (the client gave up: the record may
//!   or may not be in the log), or unknown (no answer by the end). Only an
//!   acknowledgement is a promise.
//! - **reads**: every record a consumer received: reader, partition, offset, value.
//! - **replicas**: each replica's final log per partition, `(offset, value)` in order
//!   (read from the nodes' partition directories once the cluster has healed).
//!
//! [`check`] reports every way the history breaks Spool's guarantees:
//! - an acknowledged record missing from a replica, or there at another offset (lost;
//!   one acknowledged without an offset must be somewhere in its partition);
//! - one offset of a partition carrying two different values, across acks, reads and
//!   replica logs (an offset handed out twice, or a replica that diverged);
//! - a read of a value that was never written (phantom), of an acknowledged value at
//!   another offset or partition, or of an unacknowledged value that no replica holds at
//!   the end: the consumer saw a record above the high watermark that was later truncated.
//!   Reads of writes whose outcome was unknown are fine when the record did commit;
//! - replicas of a partition that differ (log end offset or content);
//! - a gap in a replica's offsets (these topics have no control batches and no compaction);
//! - with an idempotent producer, a value at two offsets (a retry appended twice);
//! - for the readers named in [`History::complete_readers`], an acknowledged record the
//!   reader never received (consumption stalled or skipped data).
//!
//! The checker is pure: no clock, no I/O. Its tests below feed hand-made histories that
//! must fail.
#![allow(unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What became of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The broker acknowledged the record at this partition and offset. A negative
    /// offset means "acknowledged, position unknown": librdkafka's idempotent producer
    /// reports a record as delivered with offset -1001 when a batch of it failed with a
    /// retriable error but a later batch of the same producer succeeded (so the earlier
    /// one must be in the log; its implicit acknowledgement carries no offset).
    Acked { partition: i32, offset: i64 },
    /// The client reported a failure; the record may still be in the log.
    Failed(String),
    /// No answer by the end of the test.
    Unknown,
}

/// One attempted write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub value: String,
    /// The partition the record was sent to.
    pub partition: i32,
    pub outcome: Outcome,
}

/// One record a consumer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub reader: String,
    pub partition: i32,
    pub offset: i64,
    pub value: String,
}

/// Everything a fault test observed.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub writes: Vec<Write>,
    pub reads: Vec<Read>,
    /// Node id → partition → that replica's log, `(offset, value)` in offset order.
    pub replicas: BTreeMap<i32, BTreeMap<i32, Vec<(i64, String)>>>,
    /// The partitions of the topic (so an empty replica log is still compared).
    pub partitions: Vec<i32>,
    /// Whether the producer was idempotent (then a value at two offsets is a violation).
    pub idempotent: bool,
    /// Readers that must have received every acknowledged record.
    pub complete_readers: Vec<String>,
}

/// One broken guarantee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An acknowledged record is not at its offset on a replica.
    LostAck {
        value: String,
        partition: i32,
        offset: i64,
        node: i32,
        found: Option<String>,
    },
    /// One offset carries different values; each with where it was seen.
    OffsetReused {
        partition: i32,
        offset: i64,
        values: BTreeMap<String, Vec<String>>,
    },
    /// A read of a value no producer wrote.
    PhantomRead { read: Read },
    /// A read of an acknowledged value at another position than the acknowledgement's.
    ReadAtWrongOffset {
        read: Read,
        acked_partition: i32,
        acked_offset: i64,
    },
    /// A read of an unacknowledged value that no replica holds at the read's position at
    /// the end: the consumer saw data above the high watermark.
    ReadOfUncommitted { read: Read, outcome: Outcome },
    /// Two replicas of a partition differ.
    ReplicasDiverge {
        partition: i32,
        node_a: i32,
        node_b: i32,
        detail: String,
    },
    /// Offsets in a replica's log are not consecutive.
    LogGap {
        partition: i32,
        node: i32,
        after: i64,
        next: i64,
    },
    /// An idempotent producer's value stored at more than one offset.
    Duplicate {
        value: String,
        partition: i32,
        offsets: Vec<i64>,
        node: i32,
    },
    /// A reader that should have received everything missed acknowledged records.
    Unread {
        reader: String,
        missing: usize,
        example: String,
    },
    /// A record acknowledged in another partition than it was sent to.
    AckedWrongPartition {
        value: String,
        sent_to: i32,
        acked_in: i32,
    },
}

impl Violation {
    /// The word each line of this kind starts with.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::LostAck { .. } => "LOST",
            Violation::OffsetReused { .. } => "OFFSET REUSED",
            Violation::PhantomRead { .. } => "PHANTOM READ",
            Violation::ReadAtWrongOffset { .. } => "MOVED",
            Violation::ReadOfUncommitted { .. } => "READ ABOVE HIGH WATERMARK",
            Violation::ReplicasDiverge { .. } => "DIVERGED",
            Violation::LogGap { .. } => "GAP",
            Violation::Duplicate { .. } => "DUPLICATE",
            Violation::Unread { .. } => "UNREAD",
            Violation::AckedWrongPartition { .. } => "WRONG PARTITION",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::LostAck { value, partition, offset, node, found } => write!(
                f,
                "LOST: {value:?} acknowledged at {partition}/{offset} but node {node} holds {}",
                found.as_ref().map_or("nothing there".to_string(), |v| format!("{v:?} there"))
            ),
            Violation::OffsetReused { partition, offset, values } => {
                write!(f, "OFFSET REUSED: {partition}/{offset} carries {} values:", values.len())?;
                for (value, seen) in values {
                    write!(f, " {value:?} (seen by {})", seen.join(", "))?;
                }
                Ok(())
            }
            Violation::PhantomRead { read } => write!(
                f,
                "PHANTOM READ: {} read {:?} at {}/{}, which no producer wrote",
                read.reader, read.value, read.partition, read.offset
            ),
            Violation::ReadAtWrongOffset { read, acked_partition, acked_offset } => write!(
                f,
                "MOVED: {} read {:?} at {}/{}, but it was acknowledged at {acked_partition}/{acked_offset}",
                read.reader, read.value, read.partition, read.offset
            ),
            Violation::ReadOfUncommitted { read, outcome } => write!(
                f,
                "READ ABOVE HIGH WATERMARK: {} read {:?} at {}/{} (write outcome {outcome:?}); no replica holds it there at the end",
                read.reader, read.value, read.partition, read.offset
            ),
            Violation::ReplicasDiverge { partition, node_a, node_b, detail } => {
                write!(f, "DIVERGED: partition {partition}, node {node_a} vs node {node_b}: {detail}")
            }
            Violation::LogGap { partition, node, after, next } => {
                write!(f, "GAP: node {node} partition {partition} jumps from offset {after} to {next}")
            }
            Violation::Duplicate { value, partition, offsets, node } => write!(
                f,
                "DUPLICATE: idempotent write {value:?} stored at offsets {offsets:?} of partition {partition} on node {node}"
            ),
            Violation::Unread { reader, missing, example } => {
                write!(f, "UNREAD: {reader} never received {missing} acknowledged record(s), e.g. {example}")
            }
            Violation::AckedWrongPartition { value, sent_to, acked_in } => {
                write!(f, "WRONG PARTITION: {value:?} sent to partition {sent_to}, acknowledged in {acked_in}")
            }
        }
    }
}

/// Counts that describe a history, for the report and for minimum-progress gates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: usize,
    pub acked: usize,
    /// Acknowledged without an offset (see [`Outcome::Acked`]); included in `acked`.
    pub acked_without_offset: usize,
    pub failed: usize,
    pub unknown: usize,
    pub reads: usize,
    pub distinct_reads: usize,
    /// Partition → log end offset per node.
    pub log_end: BTreeMap<i32, BTreeMap<i32, i64>>,
}

/// The checker's verdict.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub stats: Stats,
}

impl Report {
    /// Whether no guarantee was broken.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The stats, the count of each kind of violation, and the first violations of each
    /// kind, `limit` lines in all, shared out over the kinds. One kind can number
    /// thousands (every read after a duplicated record is MOVED); the first of the
    /// other kinds are what tells what happened.
    pub fn summary(&self, limit: usize) -> String {
        let s = &self.stats;
        let mut out = format!(
            "writes {} (acked {} of which {} without an offset, failed {}, unknown {}), reads {} ({} distinct values), log end offsets {:?}\n",
            s.writes, s.acked, s.acked_without_offset, s.failed, s.unknown, s.reads, s.distinct_reads, s.log_end
        );
        // Kinds in the order the checks found them.
        let mut by_kind: Vec<(&str, Vec<&Violation>)> = Vec::new();
        for v in &self.violations {
            match by_kind.iter_mut().find(|(kind, _)| *kind == v.kind()) {
                Some((_, list)) => list.push(v),
                None => by_kind.push((v.kind(), vec![v])),
            }
        }
        if by_kind.is_empty() {
            return out;
        }
        let counts: Vec<String> = by_kind.iter().map(|(kind, list)| format!("{kind} {}", list.len())).collect();
        out.push_str(&format!("  violations: {}\n", counts.join(", ")));
        let per_kind = limit / by_kind.len();
        for (kind, list) in &by_kind {
            for v in list.iter().take(per_kind) {
                out.push_str(&format!("  {v}\n"));
            }
            if list.len() > per_kind && per_kind > 0 {
                out.push_str(&format!("  ... and {} more {kind}\n", list.len() - per_kind));
            }
        }
        out
    }
}

/// Checks `history` against the guarantees listed in the module doc.
pub fn check(history: &History) -> Report {
    let mut violations = Vec::new();
    let writes: BTreeMap<&str, &Write> = history
        .writes
        .iter()
        .map(|w| (w.value.as_str(), w))
        .collect();
    check_acks_against_replicas(history, &mut violations);
    check_offsets_unique(history, &mut violations);
    check_reads(history, &writes, &mut violations);
    check_replicas(history, &mut violations);
    check_complete_readers(history, &mut violations);
    Report {
        violations,
        stats: stats(history),
    }
}

fn acked(history: &History) -> impl Iterator<Item = (&Write, i32, i64)> {
    history.writes.iter().filter_map(|w| match w.outcome {
        Outcome::Acked { partition, offset } => Some((w, partition, offset)),
        _ => None,
    })
}

fn check_acks_against_replicas(history: &History, violations: &mut Vec<Violation>) {
    let indexes: BTreeMap<i32, BTreeMap<i32, BTreeMap<i64, &str>>> = history
        .replicas
        .iter()
        .map(|(node, parts)| {
            let by_offset = parts
                .iter()
                .map(|(p, log)| (*p, log.iter().map(|(o, v)| (*o, v.as_str())).collect()))
                .collect();
            (*node, by_offset)
        })
        .collect();
    for (write, partition, offset) in acked(history) {
        if partition != write.partition {
            violations.push(Violation::AckedWrongPartition {
                value: write.value.clone(),
                sent_to: write.partition,
                acked_in: partition,
            });
        }
        for (node, parts) in &indexes {
            if offset < 0 {
                let held = parts
                    .get(&partition)
                    .is_some_and(|log| log.values().any(|v| *v == write.value));
                if !held {
                    violations.push(Violation::LostAck {
                        value: write.value.clone(),
                        partition,
                        offset,
                        node: *node,
                        found: None,
                    });
                }
                continue;
            }
            let found = parts
                .get(&partition)
                .and_then(|log| log.get(&offset))
                .copied();
            if found != Some(write.value.as_str()) {
                violations.push(Violation::LostAck {
                    value: write.value.clone(),
                    partition,
                    offset,
                    node: *node,
                    found: found.map(str::to_string),
                });
            }
        }
    }
}

fn check_offsets_unique(history: &History, violations: &mut Vec<Violation>) {
    // (partition, offset) -> value -> where it was seen
    let mut seen: BTreeMap<(i32, i64), BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut note = |partition: i32, offset: i64, value: &str, source: String| {
        seen.entry((partition, offset))
            .or_default()
            .entry(value.to_string())
            .or_default()
            .insert(source);
    };
    for (write, partition, offset) in acked(history).filter(|(_, _, offset)| *offset >= 0) {
        note(partition, offset, &write.value, "ack".into());
    }
    for read in &history.reads {
        note(
            read.partition,
            read.offset,
            &read.value,
            format!("read by {}", read.reader),
        );
    }
    for (node, parts) in &history.replicas {
        for (partition, log) in parts {
            for (offset, value) in log {
                note(*partition, *offset, value, format!("node {node} log"));
            }
        }
    }
    for ((partition, offset), values) in seen {
        if values.len() > 1 {
            violations.push(Violation::OffsetReused {
                partition,
                offset,
                values: values
                    .into_iter()
                    .map(|(v, s)| (v, s.into_iter().collect()))
                    .collect(),
            });
        }
    }
}

fn check_reads(
    history: &History,
    writes: &BTreeMap<&str, &Write>,
    violations: &mut Vec<Violation>,
) {
    for read in &history.reads {
        let Some(write) = writes.get(read.value.as_str()) else {
            violations.push(Violation::PhantomRead { read: read.clone() });
            continue;
        };
        match &write.outcome {
            Outcome::Acked { partition, offset } => {
                let moved = if *offset < 0 {
                    *partition != read.partition
                } else {
                    (*partition, *offset) != (read.partition, read.offset)
                };
                if moved {
                    violations.push(Violation::ReadAtWrongOffset {
                        read: read.clone(),
                        acked_partition: *partition,
                        acked_offset: *offset,
                    });
                }
            }
            outcome => {
                let committed = !history.replicas.is_empty()
                    && history.replicas.values().any(|parts| {
                        parts.get(&read.partition).is_some_and(|log| {
                            log.binary_search_by_key(&read.offset, |(o, _)| *o)
                                .is_ok_and(|i| log[i].1 == read.value)
                        })
                    });
                if !committed {
                    violations.push(Violation::ReadOfUncommitted {
                        read: read.clone(),
                        outcome: outcome.clone(),
                    });
                }
            }
        }
    }
}

fn check_replicas(history: &History, violations: &mut Vec<Violation>) {
    let empty = Vec::new();
    let partitions: BTreeSet<i32> = history
        .partitions
        .iter()
        .copied()
        .chain(history.replicas.values().flat_map(|p| p.keys().copied()))
        .collect();
    for partition in partitions {
        let logs: Vec<(i32, &Vec<(i64, String)>)> = history
            .replicas
            .iter()
            .map(|(node, parts)| (*node, parts.get(&partition).unwrap_or(&empty)))
            .collect();
        for (node, log) in &logs {
            for pair in log.windows(2) {
                if pair[1].0 != pair[0].0 + 1 {
                    violations.push(Violation::LogGap {
                        partition,
                        node: *node,
                        after: pair[0].0,
                        next: pair[1].0,
                    });
                    break;
                }
            }
            if history.idempotent {
                let mut at: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
                for (offset, value) in log.iter() {
                    at.entry(value.as_str()).or_default().push(*offset);
                }
                for (value, offsets) in at.into_iter().filter(|(_, o)| o.len() > 1) {
                    violations.push(Violation::Duplicate {
                        value: value.to_string(),
                        partition,
                        offsets,
                        node: *node,
                    });
                }
            }
        }
        if let Some(((node_a, first), rest)) = logs.split_first() {
            for (node_b, other) in rest {
                if let Some(detail) = difference(first, other) {
                    violations.push(Violation::ReplicasDiverge {
                        partition,
                        node_a: *node_a,
                        node_b: *node_b,
                        detail,
                    });
                }
            }
        }
    }
}

/// How two replica logs differ, if they do.
fn difference(a: &[(i64, String)], b: &[(i64, String)]) -> Option<String> {
    let end = |log: &[(i64, String)]| log.last().map_or(0, |(o, _)| o + 1);
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        return Some(format!(
            "first difference at entry {i}: {:?} vs {:?}",
            a[i], b[i]
        ));
    }
    if a.len() != b.len() || end(a) != end(b) {
        return Some(format!(
            "log end offsets {} vs {} ({} vs {} records)",
            end(a),
            end(b),
            a.len(),
            b.len()
        ));
    }
    None
}

fn check_complete_readers(history: &History, violations: &mut Vec<Violation>) {
    for reader in &history.complete_readers {
        let received: BTreeSet<&str> = history
            .reads
            .iter()
            .filter(|r| &r.reader == reader)
            .map(|r| r.value.as_str())
            .collect();
        let missing: Vec<(&Write, i32, i64)> = acked(history)
            .filter(|(w, _, _)| !received.contains(w.value.as_str()))
            .collect();
        if let Some((write, partition, offset)) = missing.first() {
            violations.push(Violation::Unread {
                reader: reader.clone(),
                missing: missing.len(),
                example: format!("{:?} at {partition}/{offset}", write.value),
            });
        }
    }
}

fn stats(history: &History) -> Stats {
    let mut s = Stats {
        writes: history.writes.len(),
        reads: history.reads.len(),
        ..Stats::default()
    };
    for write in &history.writes {
        match write.outcome {
            Outcome::Acked { offset, .. } => {
                s.acked += 1;
                if offset < 0 {
                    s.acked_without_offset += 1;
                }
            }
            Outcome::Failed(_) => s.failed += 1,
            Outcome::Unknown => s.unknown += 1,
        }
    }
    s.distinct_reads = history
        .reads
        .iter()
        .map(|r| r.value.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    for (node, parts) in &history.replicas {
        for (partition, log) in parts {
            s.log_end
                .entry(*partition)
                .or_default()
                .insert(*node, log.last().map_or(0, |(o, _)| o + 1));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(value: &str, partition: i32, offset: i64) -> Write {
        Write {
            value: value.into(),
            partition,
            outcome: Outcome::Acked { partition, offset },
        }
    }

    fn failed(value: &str, partition: i32) -> Write {
        Write {
            value: value.into(),
            partition,
            outcome: Outcome::Failed("Local: Message timed out".into()),
        }
    }

    fn read(reader: &str, partition: i32, offset: i64, value: &str) -> Read {
        Read {
            reader: reader.into(),
            partition,
            offset,
            value: value.into(),
        }
    }

    fn log(entries: &[(i64, &str)]) -> Vec<(i64, String)> {
        entries.iter().map(|(o, v)| (*o, v.to_string())).collect()
    }

    /// Three replicas of partition 0 holding `entries`.
    fn replicas(entries: &[(i64, &str)]) -> BTreeMap<i32, BTreeMap<i32, Vec<(i64, String)>>> {
        (1..=3)
            .map(|node| (node, BTreeMap::from([(0, log(entries))])))
            .collect()
    }

    /// A history that keeps every guarantee: two acks, one failed write that did commit
    /// (read by a consumer), one failed write that did not (never read).
    fn good() -> History {
        History {
            writes: vec![
                acked("a", 0, 0),
                acked("b", 0, 1),
                failed("c", 0),
                failed("d", 0),
            ],
            reads: vec![
                read("r", 0, 0, "a"),
                read("r", 0, 1, "b"),
                read("r", 0, 2, "c"),
                read("r", 0, 0, "a"),
            ],
            replicas: replicas(&[(0, "a"), (1, "b"), (2, "c")]),
            partitions: vec![0],
            idempotent: true,
            complete_readers: vec!["r".into()],
        }
    }

    fn violations(history: &History) -> Vec<Violation> {
        check(history).violations
    }

    #[test]
    fn a_correct_history_passes() {
        let report = check(&good());
        assert!(report.ok(), "{}", report.summary(10));
        assert_eq!(report.stats.acked, 2);
        assert_eq!(report.stats.failed, 2);
        assert_eq!(report.stats.distinct_reads, 3);
        assert_eq!(report.stats.log_end[&0][&2], 3);
    }

    #[test]
    fn a_lost_acknowledged_record_fails() {
        let mut h = good();
        // Every replica truncated the acknowledged "b" away.
        h.replicas = replicas(&[(0, "a")]);
        h.reads.retain(|r| r.value == "a");
        let v = violations(&h);
        assert!(v.iter().any(|v| matches!(v, Violation::LostAck { value, node: 1, found: None, .. } if value == "b")), "{v:?}");
    }

    #[test]
    fn an_acknowledged_record_overwritten_on_one_replica_fails() {
        let mut h = good();
        h.replicas.insert(
            2,
            BTreeMap::from([(0, log(&[(0, "a"), (1, "x"), (2, "c")]))]),
        );
        let v = violations(&h);
        assert!(
            v.iter().any(
                |v| matches!(v, Violation::LostAck { node: 2, found: Some(f), .. } if f == "x")
            ),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::OffsetReused { offset: 1, .. })),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::ReplicasDiverge { .. })),
            "{v:?}"
        );
    }

    #[test]
    fn two_acks_at_one_offset_fail() {
        let mut h = good();
        h.writes.push(acked("e", 0, 1));
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(v, Violation::OffsetReused { partition: 0, offset: 1, values } if values.len() == 2)),
            "{v:?}"
        );
    }

    #[test]
    fn a_read_above_the_high_watermark_fails() {
        let mut h = good();
        // A consumer saw "d" at offset 3; the leader that had it was truncated, so no
        // replica holds it at the end.
        h.reads.push(read("r", 0, 3, "d"));
        let v = violations(&h);
        assert!(
            v.iter().any(
                |v| matches!(v, Violation::ReadOfUncommitted { read, .. } if read.value == "d")
            ),
            "{v:?}"
        );
    }

    #[test]
    fn a_read_of_a_truncated_record_whose_offset_was_reused_fails_twice() {
        let mut h = good();
        // "d" was read at offset 2, then truncated; "c" now sits at offset 2.
        h.reads.push(read("r", 0, 2, "d"));
        let v = violations(&h);
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::ReadOfUncommitted { .. })),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::OffsetReused { offset: 2, .. })),
            "{v:?}"
        );
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_fails() {
        let mut h = good();
        h.reads.push(read("r", 0, 1, "zzz"));
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(v, Violation::PhantomRead { .. })),
            "{v:?}"
        );
    }

    #[test]
    fn a_read_at_another_offset_than_the_ack_fails() {
        let mut h = good();
        h.reads.push(read("r", 0, 5, "a"));
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(
                v,
                Violation::ReadAtWrongOffset {
                    acked_offset: 0,
                    ..
                }
            )),
            "{v:?}"
        );
    }

    #[test]
    fn diverged_replicas_fail() {
        let mut h = good();
        // Node 3 kept an extra uncommitted record after the heal.
        h.replicas.insert(
            3,
            BTreeMap::from([(0, log(&[(0, "a"), (1, "b"), (2, "c"), (3, "d")]))]),
        );
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(v, Violation::ReplicasDiverge { node_a: 1, node_b: 3, detail, .. } if detail.contains("log end offsets 3 vs 4"))),
            "{v:?}"
        );
        // A replica missing the partition entirely diverges too.
        let mut h = good();
        h.replicas.insert(2, BTreeMap::new());
        let v = violations(&h);
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::ReplicasDiverge { node_b: 2, .. })),
            "{v:?}"
        );
    }

    #[test]
    fn a_gap_in_offsets_fails() {
        let mut h = good();
        h.replicas = replicas(&[(0, "a"), (1, "b"), (3, "c")]);
        h.reads.retain(|r| r.value != "c");
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(
                v,
                Violation::LogGap {
                    after: 1,
                    next: 3,
                    ..
                }
            )),
            "{v:?}"
        );
    }

    #[test]
    fn a_duplicate_fails_only_for_an_idempotent_producer() {
        let mut h = good();
        h.replicas = replicas(&[(0, "a"), (1, "b"), (2, "c"), (3, "c")]);
        let v = violations(&h);
        assert!(
            v.iter().any(
                |v| matches!(v, Violation::Duplicate { offsets, .. } if offsets == &vec![2, 3])
            ),
            "{v:?}"
        );
        h.idempotent = false;
        let report = check(&h);
        assert!(report.ok(), "{}", report.summary(10));
    }

    #[test]
    fn a_reader_that_missed_acknowledged_records_fails() {
        let mut h = good();
        h.reads.retain(|r| r.value != "b");
        let v = violations(&h);
        assert!(
            v.iter()
                .any(|v| matches!(v, Violation::Unread { missing: 1, .. })),
            "{v:?}"
        );
        h.complete_readers.clear();
        assert!(check(&h).ok());
    }

    #[test]
    fn an_ack_in_another_partition_fails() {
        let mut h = good();
        h.writes[0].partition = 1;
        let v = violations(&h);
        assert!(
            v.iter().any(|v| matches!(
                v,
                Violation::AckedWrongPartition {
                    sent_to: 1,
                    acked_in: 0,
                    ..
                }
            )),
            "{v:?}"
        );
    }

    #[test]
    fn an_ack_without_an_offset_must_be_somewhere_in_its_partition() {
        let mut h = good();
        // librdkafka's implicit acknowledgement: delivered, offset -1001.
        h.writes[3].outcome = Outcome::Acked {
            partition: 0,
            offset: -1001,
        };
        h.writes[2].outcome = Outcome::Acked {
            partition: 0,
            offset: -1001,
        };
        h.reads.retain(|r| r.value != "c");
        h.reads.push(read("r", 0, 2, "c"));
        h.replicas = replicas(&[(0, "a"), (1, "b"), (2, "c")]);
        // "c" is held at offset 2: fine. "d" is held nowhere: lost on every replica.
        let v = violations(&h);
        let lost: Vec<&Violation> = v
            .iter()
            .filter(
                |v| matches!(v, Violation::LostAck { value, offset: -1001, .. } if value == "d"),
            )
            .collect();
        assert_eq!(lost.len(), 3, "{v:?}");
        assert!(
            !v.iter()
                .any(|v| matches!(v, Violation::LostAck { value, .. } if value == "c")),
            "{v:?}"
        );
        assert_eq!(check(&h).stats.acked_without_offset, 2);
        // Read in another partition than acknowledged: moved.
        h.reads.push(read("r", 1, 0, "c"));
        let v = violations(&h);
        assert!(
            v.iter().any(
                |v| matches!(v, Violation::ReadAtWrongOffset { read, .. } if read.partition == 1)
            ),
            "{v:?}"
        );
    }

    #[test]
    fn an_unknown_outcome_that_never_committed_is_fine_if_unread() {
        let mut h = good();
        h.writes.push(Write {
            value: "u".into(),
            partition: 0,
            outcome: Outcome::Unknown,
        });
        let report = check(&h);
        assert!(report.ok(), "{}", report.summary(10));
        assert_eq!(report.stats.unknown, 1);
    }

    #[test]
    fn the_summary_shows_every_kind_of_violation_however_many_of_another_there_are() {
        let moved = |i: i64| Violation::ReadAtWrongOffset {
            read: read("group", 0, i, &format!("v{i}")),
            acked_partition: 0,
            acked_offset: i + 100,
        };
        let mut report = Report { violations: (0..500).map(moved).collect(), ..Report::default() };
        report.violations.push(Violation::Duplicate { value: "v7".into(), partition: 0, offsets: vec![7, 107], node: 1 });
        let summary = report.summary(10);
        assert!(summary.contains("violations: MOVED 500, DUPLICATE 1"), "{summary}");
        assert!(summary.contains("DUPLICATE: idempotent write \"v7\""), "{summary}");
        assert!(summary.contains("... and 495 more MOVED"), "{summary}");
        assert_eq!(summary.lines().filter(|l| l.starts_with("  MOVED")).count(), 5, "{summary}");
    }
}
