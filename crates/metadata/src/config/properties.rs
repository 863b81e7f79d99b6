//! Java's `.properties` text format, as `java.util.Properties.load` reads server.properties.
//!
//! - A line whose first non-blank character is `#` or `!` is a comment; blank lines are skipped.
//! - `key=value`, `key: value` and `key value` all set `key`; the key ends at the first
//!   unescaped `=`, `:` or blank; blanks around the separator are dropped; the value is trimmed.
//! - A line ending in an odd number of backslashes continues on the next line (whose leading
//!   blanks are dropped).
//! - Escapes: `\=`, `\:`, `\ `, `\#`, `\\`, `\t`, `\n`, `\r`, `\f`, `\uXXXX`; any other `\c` is `c`.
//! - A later line for the same key wins (the caller applies lines in order).

use super::ConfigError;

/// One `key=value` entry with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyLine {
    /// Where the entry starts.
    pub line: usize,
    /// The unescaped key.
    pub key: String,
    /// The unescaped, trimmed value.
    pub value: String,
}

/// Parses properties text into its entries, in order.
///
/// # Errors
/// [`ConfigError::Parse`] for an entry with an empty key or a malformed `\u` escape.
pub fn parse_properties(text: &str) -> Result<Vec<PropertyLine>, ConfigError> {
    let mut entries = Vec::new();
    let mut lines = natural_lines(text).into_iter().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let start = line.trim_start_matches(is_blank);
        if start.is_empty() || start.starts_with('#') || start.starts_with('!') {
            continue;
        }
        let line_number = index + 1;
        // Join continuation lines: an odd number of trailing backslashes continues the line.
        let mut logical = start.to_string();
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(is_blank)),
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let parse_error = |reason: String| ConfigError::Parse { line: line_number, text: logical.clone(), reason };
        let key = unescape(raw_key).map_err(&parse_error)?;
        if key.is_empty() {
            return Err(parse_error("the line has a value but no key; write it as key=value".into()));
        }
        let value = unescape(raw_value).map_err(&parse_error)?;
        entries.push(PropertyLine { line: line_number, key, value: value.trim().to_string() });
    }
    Ok(entries)
}

/// Java's "white space" in properties files: space, tab and form feed.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// Splits on `\n`, `\r\n` and `\r`.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(end) => {
                lines.push(&rest[..end]);
                let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[end + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits a logical line (leading blanks already removed) into raw key and raw value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut separator_is_blank = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => {
                key_end = i;
                break;
            }
            c if is_blank(c) => {
                key_end = i;
                separator_is_blank = true;
                break;
            }
            _ => {}
        }
    }
    let key = &line[..key_end];
    if key_end == line.len() {
        return (key, "");
    }
    // Skip the separator character, then blanks; after a blank separator one '=' or ':' may follow.
    let mut rest = line[key_end + 1..].trim_start_matches(is_blank);
    if separator_is_blank {
        if let Some(after) = rest.strip_prefix(['=', ':']) {
            rest = after.trim_start_matches(is_blank);
        }
    }
    (key, rest)
}

/// Resolves backslash escapes.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\uXXXX escape '\\u{hex}': it needs four hex digits"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(usize, String, String)> {
        parse_properties(text).expect("parses").into_iter().map(|p| (p.line, p.key, p.value)).collect()
    }

    fn kv(line: usize, k: &str, v: &str) -> (usize, String, String) {
        (line, k.to_string(), v.to_string())
    }

    #[test]
    fn comments_blank_lines_and_separators() {
        let text = "# a comment\n! another comment\n\n   \nnum.partitions=3\nlog.dirs : /data/a, /data/b  \n  node.id   7\nempty=\nkeyonly\n";
        assert_eq!(
            pairs(text),
            vec![
                kv(5, "num.partitions", "3"),
                kv(6, "log.dirs", "/data/a, /data/b"),
                kv(7, "node.id", "7"),
                kv(8, "empty", ""),
                kv(9, "keyonly", ""),
            ]
        );
    }

    #[test]
    fn blank_separator_may_be_followed_by_equals() {
        assert_eq!(pairs("a = 1\nb := 2\nc\t:\t3"), vec![kv(1, "a", "1"), kv(2, "b", "= 2"), kv(3, "c", "3")]);
    }

    #[test]
    fn escapes_in_keys_and_values() {
        assert_eq!(
            pairs("a\\=b=c\\=d\nx\\:y:1\\u0041\\t\\\\\nsp\\ ace=v"),
            vec![kv(1, "a=b", "c=d"), kv(2, "x:y", "1A\t\\"), kv(3, "sp ace", "v")]
        );
    }

    #[test]
    fn continuation_lines_join() {
        let text = "listeners=PLAINTEXT://a:9092,\\\n    CONTROLLER://a:9093\nnext=1\neven=ends\\\\\nafter=2";
        assert_eq!(
            pairs(text),
            vec![
                kv(1, "listeners", "PLAINTEXT://a:9092,CONTROLLER://a:9093"),
                kv(3, "next", "1"),
                kv(4, "even", "ends\\"),
                kv(5, "after", "2"),
            ]
        );
    }

    #[test]
    fn crlf_and_cr_line_ends() {
        assert_eq!(pairs("a=1\r\nb=2\rc=3"), vec![kv(1, "a", "1"), kv(2, "b", "2"), kv(3, "c", "3")]);
    }

    #[test]
    fn comment_marker_inside_value_is_kept() {
        assert_eq!(pairs("a=x # not a comment"), vec![kv(1, "a", "x # not a comment")]);
    }

    #[test]
    fn empty_key_and_bad_unicode_escape_are_errors() {
        let err = parse_properties("ok=1\n=value").expect_err("must be rejected");
        assert!(matches!(&err, ConfigError::Parse { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("no key"));
        let err = parse_properties("a=\\u12").expect_err("must be rejected");
        assert!(matches!(&err, ConfigError::Parse { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("four hex digits"));
    }
}
