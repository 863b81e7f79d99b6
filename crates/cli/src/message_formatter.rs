//! Kafka's `DefaultMessageFormatter`: how the console consumer prints a record.
//!
//! Fields in Kafka's order, each followed by `key.separator` (default `\t`) when a
//! later field is printed:
//!
//! ```text
//! CreateTime:<ts>  Partition:<p>  Offset:<o>  <headers>  <key>  <value><line.separator>
//! ```
//!
//! Properties (`--property k=v`): `print.timestamp`, `print.partition`, `print.offset`,
//! `print.headers`, `print.key` (all false), `print.value` (true), `key.separator`,
//! `line.separator` (`\n`), `headers.separator` (`,`), `null.literal` (`null`). As in
//! Kafka, the line separator is written after the value, so `print.value=false`
//! prints no line ends.
//!
//! `--formatter` names Kafka's Java class: the default formatter's, or
//! `NoOpMessageFormatter`, which prints nothing (to time a consumer without a terminal).

use std::io::{self, Write};

/// The timestamp of a record as the formatter prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordTimestamp {
    CreateTime(i64),
    LogAppendTime(i64),
    None,
}

/// What the formatter needs of a consumed record.
#[derive(Debug, Clone)]
pub(crate) struct RecordView<'a> {
    pub(crate) timestamp: RecordTimestamp,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) headers: Vec<(&'a str, Option<&'a [u8]>)>,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
}

/// The formatter's configuration.
#[derive(Debug, Clone)]
pub(crate) struct DefaultMessageFormatter {
    print_timestamp: bool,
    print_partition: bool,
    print_offset: bool,
    print_headers: bool,
    print_key: bool,
    print_value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
    /// `NoOpMessageFormatter`: records are consumed and counted, not printed.
    print_nothing: bool,
}

/// The `--formatter` classes of Kafka's console consumer that this one has.
const DEFAULT_FORMATTERS: [&str; 2] = ["kafka.tools.DefaultMessageFormatter", "org.apache.kafka.tools.consumer.DefaultMessageFormatter"];
const NO_OP_FORMATTERS: [&str; 2] = ["kafka.tools.NoOpMessageFormatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter"];

/// Checks a `--formatter` class name: whether it is the no-op formatter.
///
/// # Errors
/// A class this console consumer does not have.
pub(crate) fn parse_formatter_class(class: &str) -> Result<bool, String> {
    if DEFAULT_FORMATTERS.contains(&class) {
        Ok(false)
    } else if NO_OP_FORMATTERS.contains(&class) {
        Ok(true)
    } else {
        Err(format!(
            "{class} is a Java class Spool cannot load; its console consumer has {} (the default) and {}",
            DEFAULT_FORMATTERS[1], NO_OP_FORMATTERS[1]
        ))
    }
}

impl Default for DefaultMessageFormatter {
    fn default() -> Self {
        DefaultMessageFormatter {
            print_timestamp: false,
            print_partition: false,
            print_offset: false,
            print_headers: false,
            print_key: false,
            print_value: true,
            key_separator: b"\t".to_vec(),
            line_separator: b"\n".to_vec(),
            headers_separator: b",".to_vec(),
            null_literal: b"null".to_vec(),
            print_nothing: false,
        }
    }
}

fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

impl DefaultMessageFormatter {
    /// The formatter a `--formatter` class stands for (see [`parse_formatter_class`]),
    /// built from `--property` pairs; unknown keys are ignored, as in Kafka.
    pub(crate) fn with_properties(no_op: bool, props: &[(String, String)]) -> Self {
        let mut f = DefaultMessageFormatter { print_nothing: no_op, ..DefaultMessageFormatter::default() };
        for (key, value) in props {
            match key.as_str() {
                "print.timestamp" => f.print_timestamp = is_true(value),
                "print.partition" => f.print_partition = is_true(value),
                "print.offset" => f.print_offset = is_true(value),
                "print.headers" => f.print_headers = is_true(value),
                "print.key" => f.print_key = is_true(value),
                "print.value" => f.print_value = is_true(value),
                "key.separator" => f.key_separator = value.as_bytes().to_vec(),
                "line.separator" => f.line_separator = value.as_bytes().to_vec(),
                "headers.separator" => f.headers_separator = value.as_bytes().to_vec(),
                "null.literal" => f.null_literal = value.as_bytes().to_vec(),
                _ => {}
            }
        }
        f
    }

    /// Writes one record.
    ///
    /// # Errors
    /// Only the writer's errors (a closed pipe, typically).
    pub(crate) fn write_to(&self, record: &RecordView<'_>, out: &mut impl Write) -> io::Result<()> {
        if self.print_nothing {
            return Ok(());
        }
        if self.print_timestamp {
            match record.timestamp {
                RecordTimestamp::CreateTime(ts) => write!(out, "CreateTime:{ts}")?,
                RecordTimestamp::LogAppendTime(ts) => write!(out, "LogAppendTime:{ts}")?,
                RecordTimestamp::None => out.write_all(b"NO_TIMESTAMP")?,
            }
            self.separator(out, self.print_partition || self.print_offset || self.print_headers || self.print_key || self.print_value)?;
        }
        if self.print_partition {
            write!(out, "Partition:{}", record.partition)?;
            self.separator(out, self.print_offset || self.print_headers || self.print_key || self.print_value)?;
        }
        if self.print_offset {
            write!(out, "Offset:{}", record.offset)?;
            self.separator(out, self.print_headers || self.print_key || self.print_value)?;
        }
        if self.print_headers {
            if record.headers.is_empty() {
                out.write_all(b"NO_HEADERS")?;
            }
            for (i, (key, value)) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.write_all(&self.headers_separator)?;
                }
                out.write_all(key.as_bytes())?;
                out.write_all(b":")?;
                out.write_all(value.unwrap_or(b"NULL"))?;
            }
            self.separator(out, self.print_key || self.print_value)?;
        }
        if self.print_key {
            out.write_all(record.key.unwrap_or(&self.null_literal))?;
            self.separator(out, self.print_value)?;
        }
        if self.print_value {
            out.write_all(record.value.unwrap_or(&self.null_literal))?;
            out.write_all(&self.line_separator)?;
        }
        Ok(())
    }

    fn separator(&self, out: &mut impl Write, more: bool) -> io::Result<()> {
        if more {
            out.write_all(&self.key_separator)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn record<'a>() -> RecordView<'a> {
        RecordView {
            timestamp: RecordTimestamp::CreateTime(1700000000123),
            partition: 2,
            offset: 41,
            headers: vec![],
            key: Some(b"host1"),
            value: Some(b"disk full"),
        }
    }

    fn format(f: &DefaultMessageFormatter, r: &RecordView<'_>) -> String {
        let mut out = Vec::new();
        f.write_to(r, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_prints_only_the_value() {
        assert_eq!(format(&DefaultMessageFormatter::default(), &record()), "disk full\n");
    }

    #[test]
    fn all_fields_in_kafkas_order() {
        let f = DefaultMessageFormatter::with_properties(false, &props(&[
            ("print.key", "true"),
            ("print.offset", "true"),
            ("print.partition", "true"),
            ("print.timestamp", "true"),
        ]));
        assert_eq!(format(&f, &record()), "CreateTime:1700000000123\tPartition:2\tOffset:41\thost1\tdisk full\n");
    }

    #[test]
    fn null_key_separator_and_headers() {
        let f = DefaultMessageFormatter::with_properties(false, &props(&[
            ("print.key", "true"),
            ("print.headers", "true"),
            ("key.separator", " | "),
        ]));
        let mut r = record();
        r.key = None;
        assert_eq!(format(&f, &r), "NO_HEADERS | null | disk full\n");
        r.headers = vec![("a", Some(b"1")), ("b", None)];
        assert_eq!(format(&f, &r), "a:1,b:NULL | null | disk full\n");
    }

    #[test]
    fn without_the_value_no_trailing_separator_or_line_end() {
        let f = DefaultMessageFormatter::with_properties(false, &props(&[("print.offset", "true"), ("print.value", "false")]));
        assert_eq!(format(&f, &record()), "Offset:41");
        let mut r = record();
        r.timestamp = RecordTimestamp::None;
        let f = DefaultMessageFormatter::with_properties(false, &props(&[("print.timestamp", "true")]));
        assert_eq!(format(&f, &r), "NO_TIMESTAMP\tdisk full\n");
    }

    #[test]
    fn formatter_classes_are_kafkas_default_and_no_op_ones() {
        assert_eq!(parse_formatter_class("kafka.tools.DefaultMessageFormatter"), Ok(false));
        assert_eq!(parse_formatter_class("org.apache.kafka.tools.consumer.NoOpMessageFormatter"), Ok(true));
        let refused = parse_formatter_class("kafka.coordinator.group.GroupMetadataManager$OffsetsMessageFormatter").unwrap_err();
        assert!(refused.contains("cannot load"), "{refused}");
        let silent = DefaultMessageFormatter::with_properties(true, &props(&[("print.key", "true")]));
        assert_eq!(format(&silent, &record()), "");
    }
}
