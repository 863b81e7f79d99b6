//! Topic patterns of Kafka's tools: `kafka-topics --topic REGEX` (Kafka's
//! `TopicFilter.IncludeList`) and `kafka-console-consumer --include REGEX`.
//!
//! A pattern matches whole topic names, as Java's `String.matches`: `orders` does not
//! match `orders-eu`. The syntax is the `regex` crate's (that of RE2, which Kafka's own
//! broker-side patterns of KIP-848 use too); the constructs that differ from Java's,
//! lookaround and backreferences, are refused with a clear error.

use regex::Regex;

/// Topics Kafka counts as internal (`Topic.isInternal`): a pattern subscription leaves
/// them out.
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state", "__share_group_state"];

/// Whether `topic` is one of Kafka's internal topics.
pub(crate) fn is_internal(topic: &str) -> bool {
    INTERNAL_TOPICS.contains(&topic)
}

/// A compiled topic pattern.
#[derive(Debug, Clone)]
pub(crate) struct TopicFilter {
    /// The pattern as Kafka's tools print it.
    regex: String,
    whole_name: Regex,
}

impl TopicFilter {
    /// A pattern as given (`kafka-console-consumer --include`).
    ///
    /// # Errors
    /// When the pattern is empty or not a valid regular expression.
    pub(crate) fn pattern(regex: &str) -> Result<Self, String> {
        if regex.is_empty() {
            return Err("the pattern is empty".to_string());
        }
        let whole_name = Regex::new(&format!("^(?:{regex})$")).map_err(|e| format!("{regex} is an invalid regex: {e}"))?;
        Ok(TopicFilter { regex: regex.to_string(), whole_name })
    }

    /// A `kafka-topics --topic` value, cleaned up as Kafka's `TopicFilter` does: trimmed,
    /// commas read as `|` (so a comma-separated list of names works), spaces removed and
    /// quotes around it (left by properties files) stripped.
    ///
    /// # Errors
    /// As [`TopicFilter::pattern`].
    pub(crate) fn include_list(raw: &str) -> Result<Self, String> {
        let cleaned = raw.trim().replace(',', "|").replace(' ', "");
        let cleaned = cleaned.trim_start_matches(['"', '\'']).trim_end_matches(['"', '\'']);
        Self::pattern(cleaned)
    }

    /// Whether the pattern matches all of `topic`.
    pub(crate) fn matches(&self, topic: &str) -> bool {
        self.whole_name.is_match(topic)
    }
}

impl std::fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.regex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_topic_names() {
        let matches = |pattern: &str, topic: &str| TopicFilter::pattern(pattern).unwrap().matches(topic);
        assert!(matches("orders-.*", "orders-eu"));
        assert!(matches(r"orders-\d+", "orders-42"));
        assert!(!matches("orders", "orders-eu"), "a prefix is not a match, as in Kafka");
        assert!(!matches("eu", "orders-eu"));
        assert!(matches("a|b", "b"), "alternatives stay inside the anchors");
        assert!(!matches("a|b", "ab"));
        // A plain name is a pattern too: its dots match any character, as in Kafka.
        assert!(matches("test.topic", "test_topic"));
        assert!(!matches(r"test\.topic", "test_topic"));
    }

    #[test]
    fn include_lists_are_cleaned_up_as_kafka_does() {
        let filter = TopicFilter::include_list(" 'orders, payments' ").unwrap();
        assert_eq!(filter.to_string(), "orders|payments");
        assert!(filter.matches("orders") && filter.matches("payments") && !filter.matches("orders,payments"));
        assert!(TopicFilter::include_list("\"a.*\"").unwrap().matches("abc"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern_named() {
        let error = TopicFilter::pattern("orders-(eu").unwrap_err();
        assert!(error.starts_with("orders-(eu is an invalid regex"), "{error}");
        assert!(TopicFilter::pattern("").is_err());
        assert!(TopicFilter::pattern("(?=x)").is_err(), "lookahead is refused, not misread");
    }

    #[test]
    fn kafkas_internal_topics() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(!is_internal("__my_topic"));
    }
}
