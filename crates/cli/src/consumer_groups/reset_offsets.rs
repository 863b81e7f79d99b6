//! `--reset-offsets`: plan new committed offsets for inactive groups, print the plan
//! (or export it as CSV), and commit it with `--execute`, as Kafka's
//! `ConsumerGroupCommand.resetOffsets`.
//!
//! ```text
//! describe group ─► Empty/Dead? ─► partitions (--topic | --all-topics | --from-file)
//!                       │              ─► new offsets (scenario; clamped to [log start, log end])
//!                       └─ else: "Assignments can only be reset if the group ... is inactive"
//! ```
//!
//! Offsets are committed as an administrator (generation -1, no member id), which the
//! coordinator accepts only while the group has no members.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::{exception_text, selected_groups, topic_partitions, usage, Console, ConsumerGroupsArgs};
use crate::admin::{ClusterAdmin, TopicPartition};

/// ListOffsets' special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// New offsets per group, then per partition.
type Plan = BTreeMap<String, BTreeMap<TopicPartition, i64>>;

pub(super) fn run<W: Write>(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, console: &mut Console<W>) -> Result<()> {
    let file_plan = match &args.from_file {
        Some(path) => Some(read_plan(path, args)?),
        None => None,
    };
    let mut plans = Plan::new();
    for group in selected_groups(admin, args)? {
        let state = admin.describe_group(&group)?.state;
        if state != "Empty" && state != "Dead" {
            console.error(&format!(
                "Assignments can only be reset if the group '{group}' is inactive, but the current state is {state}."
            ))?;
            plans.insert(group, BTreeMap::new());
            continue;
        }
        let partitions = partitions_to_reset(admin, args, &group)?;
        let plan = prepare(admin, args, &group, &partitions, file_plan.as_ref(), console)?;
        if args.execute {
            commit(admin, &group, &plan)?;
        }
        plans.insert(group, plan);
    }
    if args.export {
        writeln!(console.out, "{}", export_csv(&plans, args.group.len() == 1))?;
    } else {
        print_plan(&plans, &mut console.out)?;
    }
    Ok(())
}

/// `--all-topics`: every partition the group has an offset for; `--topic`: the named
/// partitions; `--from-file` alone: none (the file names them).
fn partitions_to_reset(admin: &mut ClusterAdmin, args: &ConsumerGroupsArgs, group: &str) -> Result<Vec<TopicPartition>> {
    if args.all_topics {
        return Ok(admin.committed_offsets(group)?.into_keys().collect());
    }
    if !args.topic.is_empty() {
        let (partitions, unknown) = topic_partitions(admin, &args.topic)?;
        if let Some(topic) = unknown.first() {
            bail!("{} (topic '{topic}')", exception_text(3));
        }
        return Ok(partitions);
    }
    if args.from_file.is_none() {
        return Err(usage("One of the reset scopes should be defined: --all-topics, --topic."));
    }
    Ok(Vec::new())
}

/// The new offset of each partition under the chosen scenario.
fn prepare<W: Write>(
    admin: &mut ClusterAdmin,
    args: &ConsumerGroupsArgs,
    group: &str,
    partitions: &[TopicPartition],
    file_plan: Option<&Plan>,
    console: &mut Console<W>,
) -> Result<BTreeMap<TopicPartition, i64>> {
    if let Some(offset) = args.to_offset {
        return clamp_to_log(admin, partitions.iter().map(|tp| (tp.clone(), offset)).collect(), console);
    }
    if args.to_earliest {
        return log_offsets(admin, partitions, EARLIEST, "Error getting starting offset of topic partition");
    }
    if args.to_latest {
        return log_offsets(admin, partitions, LATEST, "Error getting ending offset of topic partition");
    }
    if let Some(shift) = args.shift_by {
        let committed = admin.committed_offsets(group)?;
        let mut requested = BTreeMap::new();
        for tp in partitions {
            let Some(current) = committed.get(tp) else {
                return Err(usage(format!(
                    "Cannot shift offset for partition {}-{} since there is no current committed offset",
                    tp.0, tp.1
                )));
            };
            requested.insert(tp.clone(), current.saturating_add(shift));
        }
        return clamp_to_log(admin, requested, console);
    }
    if let Some(datetime) = &args.to_datetime {
        return offsets_for_time(admin, partitions, parse_datetime(datetime)?, console);
    }
    if let Some(duration) = &args.by_duration {
        let timestamp = now_ms().saturating_sub(parse_duration_ms(duration)?);
        return offsets_for_time(admin, partitions, timestamp, console);
    }
    if let Some(plan) = file_plan {
        let Some(requested) = plan.get(group) else {
            console.error(&format!("No reset plan for group {group} found"))?;
            return Ok(BTreeMap::new());
        };
        return clamp_to_log(admin, requested.clone(), console);
    }
    if args.to_current {
        let committed = admin.committed_offsets(group)?;
        let (with, without): (Vec<_>, Vec<_>) = partitions.iter().cloned().partition(|tp| committed.contains_key(tp));
        let mut plan: BTreeMap<TopicPartition, i64> =
            with.into_iter().filter_map(|tp| committed.get(&tp).map(|o| (tp, *o))).collect();
        plan.extend(log_offsets(admin, &without, LATEST, "Error getting ending offset of topic partition")?);
        return Ok(plan);
    }
    Err(usage(
        "Option '[reset-offsets]' requires one of the following scenarios: [to-offset, shift-by, to-datetime, \
         by-duration, to-earliest, to-latest, to-current, from-file]",
    ))
}

/// The wall clock in milliseconds since the epoch.
fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Each partition's log start (`EARLIEST`) or end (`LATEST`) offset; a partition
/// without one is a usage error, as in Kafka.
fn log_offsets(admin: &mut ClusterAdmin, partitions: &[TopicPartition], spec: i64, failure: &str) -> Result<BTreeMap<TopicPartition, i64>> {
    if partitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    let offsets = admin.list_offsets(partitions, spec)?;
    let mut plan = BTreeMap::new();
    for tp in partitions {
        match offsets.get(tp) {
            Some(Ok(offset)) => plan.insert(tp.clone(), *offset),
            _ => return Err(usage(format!("{failure}: {}-{}", tp.0, tp.1))),
        };
    }
    Ok(plan)
}

/// The first offset at or after `timestamp` in each partition; the log end where no
/// record is that new (with Kafka's warning on stdout).
fn offsets_for_time<W: Write>(
    admin: &mut ClusterAdmin,
    partitions: &[TopicPartition],
    timestamp: i64,
    console: &mut Console<W>,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let found = admin.list_offsets(partitions, timestamp)?;
    let mut plan = BTreeMap::new();
    let mut empty = Vec::new();
    for tp in partitions {
        match found.get(tp) {
            Some(Ok(-1)) => {
                writeln!(console.out, "\nWarn: Partition {} from topic {} is empty. Falling back to latest known offset.", tp.1, tp.0)?;
                empty.push(tp.clone());
            }
            Some(Ok(offset)) => {
                plan.insert(tp.clone(), *offset);
            }
            _ => return Err(usage(format!("Error getting offset by timestamp of topic partition: {}-{}", tp.0, tp.1))),
        }
    }
    plan.extend(log_offsets(admin, &empty, LATEST, "Error getting ending offset of topic partition")?);
    Ok(plan)
}

/// Kafka's `checkOffsetsRange`: an offset past the log end becomes the log end, one
/// before the log start becomes the log start, each with a warning.
fn clamp_to_log<W: Write>(
    admin: &mut ClusterAdmin,
    requested: BTreeMap<TopicPartition, i64>,
    console: &mut Console<W>,
) -> Result<BTreeMap<TopicPartition, i64>> {
    let partitions: Vec<TopicPartition> = requested.keys().cloned().collect();
    if partitions.is_empty() {
        return Ok(requested);
    }
    let starts = admin.list_offsets(&partitions, EARLIEST)?;
    let ends = admin.list_offsets(&partitions, LATEST)?;
    let mut plan = BTreeMap::new();
    for (tp, offset) in requested {
        let name = format!("{}-{}", tp.0, tp.1);
        let offset = match (ends.get(&tp), starts.get(&tp)) {
            (Some(Ok(end)), _) if offset > *end => {
                console.note(&format!("WARN New offset ({offset}) is higher than latest offset for topic partition {name}. Value will be set to {end}"))?;
                *end
            }
            (_, Some(Ok(start))) if offset < *start => {
                console.note(&format!("WARN New offset ({offset}) is lower than earliest offset for topic partition {name}. Value will be set to {start}"))?;
                *start
            }
            _ => offset,
        };
        plan.insert(tp, offset);
    }
    Ok(plan)
}

fn commit(admin: &mut ClusterAdmin, group: &str, plan: &BTreeMap<TopicPartition, i64>) -> Result<()> {
    if plan.is_empty() {
        return Ok(());
    }
    for ((topic, partition), code) in admin.commit_offsets(group, plan)? {
        if code != 0 {
            bail!("{} ({topic}-{partition})", exception_text(code));
        }
    }
    Ok(())
}

/// Kafka's `printOffsetsToReset`, one row per line.
fn print_plan(plans: &Plan, out: &mut impl Write) -> Result<()> {
    let line = |cells: [&str; 4]| format!("\n{:<30} {:<30} {:<10} {:<15}", cells[0], cells[1], cells[2], cells[3]);
    if plans.is_empty() {
        return Ok(());
    }
    write!(out, "{}", line(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]))?;
    for (group, plan) in plans {
        for ((topic, partition), offset) in plan {
            write!(out, "{}", line([group, topic, &partition.to_string(), &offset.to_string()]))?;
        }
    }
    writeln!(out)?;
    Ok(())
}

/// The plan as Kafka's `--export` CSV: `topic,partition,offset` lines for one group,
/// `group,topic,partition,offset` for several.
fn export_csv(plans: &Plan, single_group: bool) -> String {
    let mut csv = String::new();
    for (group, plan) in plans {
        for ((topic, partition), offset) in plan {
            if !single_group {
                csv.push_str(&csv_field(group));
                csv.push(',');
            }
            csv.push_str(&format!("{},{partition},{offset}\n", csv_field(topic)));
        }
    }
    csv
}

/// A CSV field, quoted when it holds a separator, quote or line break.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Reads a `--from-file` plan: `topic,partition,offset` lines (when one group is named)
/// or `group,topic,partition,offset` lines.
fn read_plan(path: &Path, args: &ConsumerGroupsArgs) -> Result<Plan> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_plan(&text, (args.group.len() == 1).then(|| args.group[0].as_str())).with_context(|| format!("in {}", path.display()))
}

fn parse_plan(text: &str, single_group: Option<&str>) -> Result<Plan> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let without_group = single_group.is_some() && lines.first().is_some_and(|l| l.split(',').count() == 3);
    let mut plan = Plan::new();
    for (number, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (group, topic, partition, offset) = match (without_group, fields.as_slice(), single_group) {
            (true, [topic, partition, offset], Some(group)) => (group, *topic, *partition, *offset),
            (false, [group, topic, partition, offset], _) => (*group, *topic, *partition, *offset),
            _ => bail!("line {}: expected {} fields, got {line:?}", number + 1, if without_group { 3 } else { 4 }),
        };
        let partition: i32 = partition.parse().with_context(|| format!("line {}: partition {partition:?}", number + 1))?;
        let offset: i64 = offset.parse().with_context(|| format!("line {}: offset {offset:?}", number + 1))?;
        plan.entry(group.to_string()).or_default().insert((topic.to_string(), partition), offset);
    }
    Ok(plan)
}

/// Parses Kafka's `--to-datetime` (`Utils.getDateTime`): `YYYY-MM-DDTHH:mm:SS.sss`
/// followed by `Z`, `±hh:mm`, `±hhmm` or `±hh`; without a zone the time is UTC.
/// Returns milliseconds since the epoch.
///
/// # Errors
/// When the text is not such a time or a field is out of range.
pub(super) fn parse_datetime(text: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("Unparseable date: \"{text}\" (expected YYYY-MM-DDTHH:mm:SS.sss, optionally followed by Z or ±hh:mm)");
    let Some((date, time)) = text.split_once('T') else {
        bail!("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format: \"{text}\"");
    };
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, "Z"),
    };
    let number = |s: &str, digits: std::ops::RangeInclusive<usize>| -> Option<i64> {
        (digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let date: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date.as_slice() else { return Err(bad()) };
    let (hms, millis) = clock.split_once('.').ok_or_else(bad)?;
    let hms: Vec<&str> = hms.split(':').collect();
    let [hour, minute, second] = hms.as_slice() else { return Err(bad()) };
    let fields = (
        number(year, 4..=4),
        number(month, 1..=2),
        number(day, 1..=2),
        number(hour, 1..=2),
        number(minute, 1..=2),
        number(second, 1..=2),
        number(millis, 1..=3),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second), Some(millis)) = fields else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let offset_minutes = match zone {
        "Z" => 0,
        zone => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = zone[1..].replace(':', "");
            let (h, m) = match digits.len() {
                2 => (number(&digits, 2..=2), Some(0)),
                4 => (number(&digits[..2], 2..=2), number(&digits[2..], 2..=2)),
                _ => (None, None),
            };
            match (h, m) {
                (Some(h), Some(m)) if h <= 23 && m <= 59 => sign * (h * 60 + m),
                _ => return Err(bad()),
            }
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Parses an ISO-8601 duration as Java's `Duration.parse` does (`PnDTnHnMn.nS`, each
/// part optional, signs allowed); returns milliseconds.
///
/// # Errors
/// When the text is not such a duration.
pub(super) fn parse_duration_ms(text: &str) -> Result<i64> {
    let bad = || anyhow::anyhow!("Text cannot be parsed to a Duration: {text}");
    let upper = text.to_ascii_uppercase();
    let (negative, rest) = match upper.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(bad)?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    let mut total_ms: f64 = 0.0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, f64)]| -> Result<()> {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || ((c == '-' || c == '+') && number.is_empty()) {
                number.push(c);
                continue;
            }
            let index = units.iter().position(|(u, _)| *u == c).filter(|i| *i >= next_unit).ok_or_else(bad)?;
            let value: f64 = number.parse().map_err(|_| bad())?;
            if number.contains('.') && c != 'S' {
                return Err(bad());
            }
            total_ms += value * units[index].1;
            any = true;
            next_unit = index + 1;
            number.clear();
        }
        if number.is_empty() { Ok(()) } else { Err(bad()) }
    };
    take(days_part, &[('D', 86_400_000.0)])?;
    if let Some(time) = time_part {
        take(time, &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)])?;
    }
    if !any {
        return Err(bad());
    }
    let ms = total_ms.round() as i64;
    Ok(if negative { -ms } else { ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_as_kafka_does() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(parse_datetime("2024-02-29T12:34:56.789").unwrap(), 1_709_210_096_789);
        assert_eq!(parse_datetime("2024-02-29T12:34:56.789Z").unwrap(), 1_709_210_096_789);
        assert_eq!(parse_datetime("2024-02-29T14:34:56.789+02:00").unwrap(), 1_709_210_096_789);
        assert_eq!(parse_datetime("2024-02-29T10:34:56.789-0200").unwrap(), 1_709_210_096_789);
        assert_eq!(parse_datetime("2024-02-29T14:34:56.789+02").unwrap(), 1_709_210_096_789);
        assert!(parse_datetime("2023-02-29T00:00:00.000").is_err(), "not a leap year");
        assert!(parse_datetime("2024-01-01 00:00:00.000").unwrap_err().to_string().contains("'T'"));
        assert!(parse_datetime("2024-01-01T00:00:00").is_err(), "milliseconds are required");
        assert!(parse_datetime("2024-13-01T00:00:00.000").is_err());
        assert!(parse_datetime("2024-01-01T24:00:00.000").is_err());
    }

    #[test]
    fn durations_parse_as_java_does() {
        assert_eq!(parse_duration_ms("PT1H").unwrap(), 3_600_000);
        assert_eq!(parse_duration_ms("P1DT2H3M4.5S").unwrap(), 86_400_000 + 7_200_000 + 180_000 + 4_500);
        assert_eq!(parse_duration_ms("pt30m").unwrap(), 1_800_000);
        assert_eq!(parse_duration_ms("-PT1S").unwrap(), -1000);
        assert!(parse_duration_ms("P").is_err());
        assert!(parse_duration_ms("PT").is_err());
        assert!(parse_duration_ms("1H").is_err());
        assert!(parse_duration_ms("PT1S2M").is_err(), "units in order");
    }

    #[test]
    fn plans_read_both_csv_layouts() {
        let plan = parse_plan("t,0,5\nt,1,7\n", Some("g")).unwrap();
        assert_eq!(plan["g"][&("t".to_string(), 1)], 7);
        let plan = parse_plan("g1,t,0,5\ng2,t,0,3\n", None).unwrap();
        assert_eq!(plan["g2"][&("t".to_string(), 0)], 3);
        assert!(parse_plan("t,0\n", Some("g")).is_err());
    }

    #[test]
    fn export_quotes_only_when_needed() {
        let mut plans = Plan::new();
        plans.entry("a,b".to_string()).or_default().insert(("t".to_string(), 0), 5);
        assert_eq!(export_csv(&plans, true), "t,0,5\n");
        assert_eq!(export_csv(&plans, false), "\"a,b\",t,0,5\n");
    }

    #[test]
    fn the_plan_prints_one_row_per_line() {
        let mut plans = Plan::new();
        plans.entry("g".to_string()).or_default().insert(("t".to_string(), 0), 5);
        let mut out = Vec::new();
        print_plan(&plans, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("GROUP                          TOPIC"), "{text}");
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["g", "t", "0", "5"]);
    }
}
