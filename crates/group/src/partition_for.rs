//! Which partition of `__consumer_offsets` a group lives on.
//!
//! Kafka: `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`, where
//! `hashCode` is Java's `String.hashCode` (over UTF-16 code units, wrapping 32-bit
//! arithmetic) and `Utils.abs` maps `Integer.MIN_VALUE` to 0 instead of leaving it
//! negative. Clients do not compute this (they ask FindCoordinator), but every broker
//! of a cluster and every tool reading `__consumer_offsets` must agree with Kafka's
//! answer, so it is reproduced exactly.

/// Java's `String.hashCode`: `s[0]*31^(n-1) + s[1]*31^(n-2) + … + s[n-1]` over the
/// UTF-16 code units of `s`, in wrapping 32-bit arithmetic.
pub fn java_string_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

/// Kafka's `Utils.abs`: the absolute value, except that `i32::MIN` (which has none)
/// becomes 0.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition that coordinates `group_id`.
///
/// # Panics
/// If `num_partitions` is not positive (a configuration the broker refuses at start).
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    assert!(num_partitions > 0, "offsets.topic.num.partitions must be positive");
    kafka_abs(java_string_hash_code(group_id)) % num_partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_code_matches_java_for_known_strings() {
        // "" -> 0 (empty sum).
        assert_eq!(java_string_hash_code(""), 0);
        // "a" -> 97.
        assert_eq!(java_string_hash_code("a"), 97);
        // "ab" -> 97*31 + 98 = 3007 + 98 = 3105.
        assert_eq!(java_string_hash_code("ab"), 3105);
        // "group": g=103 r=114 o=111 u=117 p=112
        //   103
        //   103*31 + 114     = 3307
        //   3307*31 + 111    = 102628
        //   102628*31 + 117  = 3181585
        //   3181585*31 + 112 = 98629247
        assert_eq!(java_string_hash_code("group"), 98_629_247);
        // "zzzzzz" (z = 122) overflows on the last step:
        //   122, 3904, 121146, 3755648, 116425210,
        //   116425210*31 + 122 = 3609181632, which wraps to 3609181632 - 2^32 = -685785664.
        assert_eq!(java_string_hash_code("zzzzzz"), -685_785_664);
        // U+1F600 is two UTF-16 code units, 0xD83D (55357) and 0xDE00 (56832):
        //   55357*31 + 56832 = 1716067 + 56832 = 1772899.
        // (Hashing the code point 128512 instead would give a different answer.)
        assert_eq!(java_string_hash_code("\u{1F600}"), 1_772_899);
        // The well-known Java string whose hashCode is Integer.MIN_VALUE.
        assert_eq!(java_string_hash_code("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn partition_matches_kafka_for_known_groups() {
        // 97 % 50 = 47.
        assert_eq!(partition_for("a", 50), 47);
        // 3105 % 50 = 5.
        assert_eq!(partition_for("ab", 50), 5);
        // 98629247 % 50 = 98629247 - 50*1972584 = 47.
        assert_eq!(partition_for("group", 50), 47);
        // |-685785664| = 685785664; 685785664 % 50 = 14.
        assert_eq!(partition_for("zzzzzz", 50), 14);
        // 1772899 % 50 = 49.
        assert_eq!(partition_for("\u{1F600}", 50), 49);
        // Utils.abs(Integer.MIN_VALUE) = 0, so partition 0 (Math.abs would give -48).
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("", 50), 0);
        // Other partition counts: 98629247 % 7 = 98629247 - 7*14089892 = 3.
        assert_eq!(partition_for("group", 7), 3);
        assert_eq!(partition_for("anything", 1), 0);
    }

    #[test]
    fn kafka_abs_never_returns_a_negative() {
        assert_eq!(kafka_abs(i32::MIN), 0);
        assert_eq!(kafka_abs(-5), 5);
        assert_eq!(kafka_abs(i32::MAX), i32::MAX);
    }
}
