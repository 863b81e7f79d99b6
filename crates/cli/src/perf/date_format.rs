//! Timestamps in Java `SimpleDateFormat` patterns, for the consumer tool's
//! `--date-format` (default `yyyy-MM-dd HH:mm:ss:SSS`).
//!
//! The letters `yyyy`/`yy`, `MM`, `dd`, `HH`, `mm`, `ss` and `SSS` are replaced;
//! text in single quotes and every other character are copied. Times are printed in
//! UTC (Kafka uses the JVM's zone; containers and CI machines run in UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` with a `SimpleDateFormat` pattern.
pub(crate) fn format(pattern: &str, time: SystemTime) -> String {
    let ms = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    };
    let days = ms.div_euclid(86_400_000);
    let ms_of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let fields = [
        ('y', year),
        ('M', i64::from(month)),
        ('d', i64::from(day)),
        ('H', ms_of_day / 3_600_000),
        ('m', ms_of_day / 60_000 % 60),
        ('s', ms_of_day / 1000 % 60),
        ('S', ms_of_day % 1000),
    ];
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            // Quoted text; '' is a literal quote.
            let end = chars[i + 1..].iter().position(|&x| x == '\'').map_or(chars.len(), |p| i + 1 + p);
            if end == i + 1 {
                out.push('\'');
            }
            out.extend(&chars[i + 1..end]);
            i = end + 1;
            continue;
        }
        match fields.iter().find(|(letter, _)| *letter == c) {
            Some(('y', year)) if run == 2 => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some((_, value)) => out.push_str(&format!("{value:0run$}")),
            None => out.extend(&chars[i..i + run]),
        }
        i += run;
    }
    out
}

/// Year, month (1-12), day (1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn kafkas_default_pattern() {
        // 2024-02-29 13:05:09.042 UTC
        let t = UNIX_EPOCH + Duration::from_millis(1_709_211_909_042);
        assert_eq!(format("yyyy-MM-dd HH:mm:ss:SSS", t), "2024-02-29 13:05:09:042");
        assert_eq!(format("yy/MM/dd 'at' HH''mm", t), "24/02/29 at 13'05");
        assert_eq!(format("yyyy-MM-dd", UNIX_EPOCH), "1970-01-01");
    }
}
