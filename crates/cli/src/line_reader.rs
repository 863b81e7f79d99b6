//! Kafka's `LineMessageReader`: how the console producer turns a line into a record.
//!
//! Properties (`--property k=v`), with Kafka's defaults:
//! - `parse.key` (false), `key.separator` (`\t`): the key is the text before the first
//!   separator, the value everything after it;
//! - `parse.headers` (false), `headers.delimiter` (`\t`), `headers.separator` (`,`),
//!   `headers.key.separator` (`:`): headers come first, `k1:v1,k2:v2<delimiter>`;
//! - `ignore.error` (false): a line without a separator becomes a value with no key
//!   instead of stopping the producer;
//! - `null.marker` (unset): a key, value or header value equal to it is sent as null.

/// A record header: key and (nullable) value.
pub(crate) type LineHeader = (String, Option<Vec<u8>>);

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineRecord {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<LineHeader>,
}

/// The reader's configuration.
#[derive(Debug, Clone)]
pub(crate) struct LineMessageReader {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    headers_separator: String,
    headers_key_separator: String,
    ignore_error: bool,
    null_marker: Option<String>,
}

impl Default for LineMessageReader {
    fn default() -> Self {
        LineMessageReader {
            parse_key: false,
            key_separator: "\t".into(),
            parse_headers: false,
            headers_delimiter: "\t".into(),
            headers_separator: ",".into(),
            headers_key_separator: ":".into(),
            ignore_error: false,
            null_marker: None,
        }
    }
}

fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

impl LineMessageReader {
    /// Builds a reader from `--property` pairs; unknown keys are ignored, as in Kafka.
    ///
    /// # Errors
    /// When a separator is empty or the null marker equals a separator.
    pub(crate) fn from_properties(props: &[(String, String)]) -> Result<Self, String> {
        let mut reader = LineMessageReader::default();
        for (key, value) in props {
            match key.as_str() {
                "parse.key" => reader.parse_key = is_true(value),
                "key.separator" => reader.key_separator = value.clone(),
                "parse.headers" => reader.parse_headers = is_true(value),
                "headers.delimiter" => reader.headers_delimiter = value.clone(),
                "headers.separator" => reader.headers_separator = value.clone(),
                "headers.key.separator" => reader.headers_key_separator = value.clone(),
                "ignore.error" => reader.ignore_error = is_true(value),
                "null.marker" => reader.null_marker = Some(value.clone()),
                _ => {}
            }
        }
        for (name, sep) in [
            ("key.separator", &reader.key_separator),
            ("headers.delimiter", &reader.headers_delimiter),
            ("headers.separator", &reader.headers_separator),
            ("headers.key.separator", &reader.headers_key_separator),
        ] {
            if sep.is_empty() {
                return Err(format!("{name} must not be empty"));
            }
            if reader.null_marker.as_deref() == Some(sep.as_str()) {
                return Err(format!("null.marker and {name} may not be equal"));
            }
        }
        Ok(reader)
    }

    fn nullable(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        match &self.null_marker {
            Some(marker) if marker.as_bytes() == bytes => None,
            _ => Some(bytes.to_vec()),
        }
    }

    /// Finds `sep` in `line` at or after `start`; `Ok(None)` when absent and errors
    /// are ignored.
    fn split(&self, line: &[u8], start: usize, sep: &str, what: &str, number: u64) -> Result<Option<usize>, String> {
        match find(&line[start..], sep.as_bytes()) {
            Some(at) => Ok(Some(start + at)),
            None if self.ignore_error => Ok(None),
            None => Err(format!("No {what} found on line number {number}: '{}'", String::from_utf8_lossy(line))),
        }
    }

    /// Parses one line (without its line ending); `number` counts from 1.
    ///
    /// # Errors
    /// Kafka's message when a separator is missing and `ignore.error` is off.
    pub(crate) fn parse(&self, line: &[u8], number: u64) -> Result<LineRecord, String> {
        let mut offset = 0;
        let mut headers = Vec::new();
        if self.parse_headers {
            if let Some(end) = self.split(line, 0, &self.headers_delimiter, "headers delimiter", number)? {
                headers = self.parse_headers(&line[..end], number)?;
                offset = end + self.headers_delimiter.len();
            }
        }
        let mut key = None;
        if self.parse_key {
            if let Some(end) = self.split(line, offset, &self.key_separator, "key separator", number)? {
                key = self.nullable(&line[offset..end]);
                offset = end + self.key_separator.len();
            }
        }
        Ok(LineRecord { key, value: self.nullable(&line[offset..]), headers })
    }

    fn parse_headers(&self, text: &[u8], number: u64) -> Result<Vec<LineHeader>, String> {
        let mut headers = Vec::new();
        for pair in split_all(text, self.headers_separator.as_bytes()) {
            match find(pair, self.headers_key_separator.as_bytes()) {
                Some(at) => headers.push((
                    String::from_utf8_lossy(&pair[..at]).into_owned(),
                    self.nullable(&pair[at + self.headers_key_separator.len()..]),
                )),
                None if self.ignore_error => headers.push((String::from_utf8_lossy(pair).into_owned(), None)),
                None => {
                    return Err(format!(
                        "No header key separator found in pair '{}' on line number {number}",
                        String::from_utf8_lossy(pair)
                    ))
                }
            }
        }
        Ok(headers)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split_all<'a>(mut text: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(text, sep) {
        parts.push(&text[..at]);
        text = &text[at + sep.len()..];
    }
    parts.push(text);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_lines_are_values_without_keys() {
        let reader = LineMessageReader::default();
        let record = reader.parse(b"disk full on host1", 1).unwrap();
        assert_eq!(record, LineRecord { key: None, value: Some(b"disk full on host1".to_vec()), headers: vec![] });
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        let reader = LineMessageReader::from_properties(&props(&[("parse.key", "true"), ("key.separator", ":")])).unwrap();
        let record = reader.parse(b"host1:cpu:90", 1).unwrap();
        assert_eq!(record.key.as_deref(), Some(&b"host1"[..]));
        assert_eq!(record.value.as_deref(), Some(&b"cpu:90"[..]));
        let empty = reader.parse(b":v", 2).unwrap();
        assert_eq!(empty.key.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn a_missing_separator_is_kafkas_error_unless_ignored() {
        let reader = LineMessageReader::from_properties(&props(&[("parse.key", "true"), ("key.separator", ":")])).unwrap();
        assert_eq!(reader.parse(b"nokey", 3).unwrap_err(), "No key separator found on line number 3: 'nokey'");
        let lenient = LineMessageReader::from_properties(&props(&[
            ("parse.key", "true"),
            ("key.separator", ":"),
            ("ignore.error", "true"),
        ]))
        .unwrap();
        let record = lenient.parse(b"nokey", 3).unwrap();
        assert_eq!((record.key, record.value), (None, Some(b"nokey".to_vec())));
    }

    #[test]
    fn headers_then_key_then_value_and_null_marker() {
        let reader = LineMessageReader::from_properties(&props(&[
            ("parse.headers", "true"),
            ("parse.key", "true"),
            ("null.marker", "NULL"),
        ]))
        .unwrap();
        let record = reader.parse(b"h1:v1,h2:NULL\tNULL\tvalue", 1).unwrap();
        assert_eq!(record.headers, vec![("h1".into(), Some(b"v1".to_vec())), ("h2".into(), None)]);
        assert_eq!(record.key, None);
        assert_eq!(record.value.as_deref(), Some(&b"value"[..]));
    }

    #[test]
    fn bad_configurations_are_rejected() {
        assert!(LineMessageReader::from_properties(&props(&[("key.separator", "")])).is_err());
        assert!(LineMessageReader::from_properties(&props(&[("null.marker", "\t")])).is_err());
    }
}
