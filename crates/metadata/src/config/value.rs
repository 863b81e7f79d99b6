//! Parsing and validating one config value, as Kafka's `ConfigDef.parseType` and validators do.

use super::{ConfigError, ConfigType, Validator};

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A [`ConfigType::Boolean`].
    Boolean(bool),
    /// A [`ConfigType::Int`].
    Int(i32),
    /// A [`ConfigType::Short`].
    Short(i16),
    /// A [`ConfigType::Long`].
    Long(i64),
    /// A [`ConfigType::Double`].
    Double(f64),
    /// A [`ConfigType::String`].
    String(String),
    /// A [`ConfigType::List`].
    List(Vec<String>),
    /// A [`ConfigType::Class`] (its name).
    Class(String),
    /// A [`ConfigType::Password`].
    Password(String),
}

impl ConfigValue {
    /// The value as Kafka prints it (`ConfigDef.convertToString`): lists joined with ",",
    /// booleans in lower case, numbers in decimal. A password prints as itself: callers
    /// that show values must hide it.
    pub fn to_kafka_string(&self) -> String {
        match self {
            ConfigValue::Boolean(v) => v.to_string(),
            ConfigValue::Int(v) => v.to_string(),
            ConfigValue::Short(v) => v.to_string(),
            ConfigValue::Long(v) => v.to_string(),
            ConfigValue::Double(v) => java_double_string(*v),
            ConfigValue::String(v) | ConfigValue::Class(v) | ConfigValue::Password(v) => v.clone(),
            ConfigValue::List(v) => v.join(","),
        }
    }

    /// The value as an i64 if it is an integer of any width.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(v) => Some(i64::from(*v)),
            ConfigValue::Short(v) => Some(i64::from(*v)),
            ConfigValue::Long(v) => Some(*v),
            _ => None,
        }
    }
}

/// Formats a double the way Java's `Double.toString` does for the values configs use
/// (`0.5`, `1.0`, `1.7976931348623157E308`).
fn java_double_string(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else if v.is_finite() && (v.abs() >= 1e7 || (v != 0.0 && v.abs() < 1e-3)) {
        // Java switches to computerized scientific notation: 1.7976931348623157E308.
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((s.as_str(), "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exponent}")
    } else {
        v.to_string()
    }
}

/// Parses `raw` (trimmed first) as `ty` and checks it with `validator`.
pub(crate) fn parse_value(
    key: &str,
    ty: ConfigType,
    validator: &Validator,
    raw: &str,
) -> Result<ConfigValue, ConfigError> {
    let trimmed = raw.trim();
    let invalid = |reason: String| ConfigError::InvalidValue { key: key.to_string(), value: raw.to_string(), reason };
    let value = match ty {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                ConfigValue::Boolean(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                ConfigValue::Boolean(false)
            } else {
                return Err(invalid("expected true or false".into()));
            }
        }
        ConfigType::Int => ConfigValue::Int(
            trimmed
                .parse()
                .map_err(|_| invalid(format!("not a 32-bit integer (from {} to {})", i32::MIN, i32::MAX)))?,
        ),
        ConfigType::Short => ConfigValue::Short(
            trimmed
                .parse()
                .map_err(|_| invalid(format!("not a 16-bit integer (from {} to {})", i16::MIN, i16::MAX)))?,
        ),
        ConfigType::Long => ConfigValue::Long(
            trimmed
                .parse()
                .map_err(|_| invalid(format!("not a 64-bit integer (from {} to {})", i64::MIN, i64::MAX)))?,
        ),
        ConfigType::Double => {
            let v: f64 = trimmed.parse().map_err(|_| invalid("not a number".into()))?;
            // Java's parser accepts NaN and a range check does not reject it; Spool does.
            if v.is_nan() {
                return Err(invalid("not a number".into()));
            }
            ConfigValue::Double(v)
        }
        ConfigType::String => ConfigValue::String(trimmed.to_string()),
        ConfigType::Class => ConfigValue::Class(trimmed.to_string()),
        ConfigType::Password => ConfigValue::Password(trimmed.to_string()),
        ConfigType::List => ConfigValue::List(parse_list(trimmed)),
    };
    check(validator, &value).map_err(invalid)?;
    Ok(value)
}

/// Splits a list value as Kafka does: on commas with surrounding whitespace; "" is empty.
pub(crate) fn parse_list(trimmed: &str) -> Vec<String> {
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split(',').map(|entry| entry.trim().to_string()).collect()
    }
}

/// Applies `validator` to a parsed value; the error says what is accepted.
fn check(validator: &Validator, value: &ConfigValue) -> Result<(), String> {
    match (validator, value) {
        (Validator::None, _) => Ok(()),
        (Validator::AtLeast(min), v) => match v.as_i64() {
            Some(n) if n >= *min => Ok(()),
            Some(_) => Err(format!("value must be at least {min}")),
            None => Ok(()),
        },
        (Validator::Between(min, max), v) => match v.as_i64() {
            Some(n) if (*min..=*max).contains(&n) => Ok(()),
            Some(_) => Err(format!("value must be between {min} and {max}")),
            None => Ok(()),
        },
        (Validator::BetweenF64(min, max), ConfigValue::Double(n)) => {
            if (*min..=*max).contains(n) {
                Ok(())
            } else {
                Err(format!("value must be between {min} and {max}"))
            }
        }
        (Validator::OneOf(allowed), ConfigValue::String(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(format!("string must be one of: {}", allowed.join(", ")))
            }
        }
        (Validator::ListOf(allowed), ConfigValue::List(entries)) => {
            match entries.iter().find(|e| !allowed.contains(&e.as_str())) {
                None => Ok(()),
                Some(bad) => Err(format!("'{bad}' is not allowed; each entry must be one of: {}", allowed.join(", "))),
            }
        }
        (Validator::Custom { check, .. }, v) => check(&v.to_kafka_string()),
        // A validator that does not apply to the type accepts (the catalog tests rule this out).
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ty: ConfigType, validator: Validator, raw: &str) -> Result<ConfigValue, String> {
        parse_value("k", ty, &validator, raw).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_each_type_trimmed() {
        assert_eq!(parse(ConfigType::Boolean, Validator::None, " TRUE "), Ok(ConfigValue::Boolean(true)));
        assert_eq!(parse(ConfigType::Boolean, Validator::None, "False"), Ok(ConfigValue::Boolean(false)));
        assert_eq!(parse(ConfigType::Int, Validator::None, " -7 "), Ok(ConfigValue::Int(-7)));
        assert_eq!(parse(ConfigType::Short, Validator::None, "3"), Ok(ConfigValue::Short(3)));
        assert_eq!(parse(ConfigType::Long, Validator::None, "9223372036854775807"), Ok(ConfigValue::Long(i64::MAX)));
        assert_eq!(parse(ConfigType::Double, Validator::None, "0.5"), Ok(ConfigValue::Double(0.5)));
        assert_eq!(parse(ConfigType::String, Validator::None, "  a b "), Ok(ConfigValue::String("a b".into())));
        assert_eq!(
            parse(ConfigType::List, Validator::None, " delete , compact "),
            Ok(ConfigValue::List(vec!["delete".into(), "compact".into()]))
        );
        assert_eq!(parse(ConfigType::List, Validator::None, "  "), Ok(ConfigValue::List(vec![])));
    }

    #[test]
    fn rejects_values_that_do_not_parse() {
        assert!(parse(ConfigType::Boolean, Validator::None, "yes")
            .expect_err("must be rejected")
            .contains("true or false"));
        assert!(parse(ConfigType::Int, Validator::None, "2147483648")
            .expect_err("must be rejected")
            .contains("32-bit"));
        assert!(parse(ConfigType::Int, Validator::None, "1.5").is_err());
        assert!(parse(ConfigType::Int, Validator::None, "").is_err());
        assert!(parse(ConfigType::Short, Validator::None, "40000").expect_err("must be rejected").contains("16-bit"));
        assert!(parse(ConfigType::Long, Validator::None, "ten").is_err());
        assert!(parse(ConfigType::Double, Validator::None, "NaN").is_err());
    }

    #[test]
    fn validators_say_what_is_accepted() {
        let e = parse(ConfigType::Int, Validator::AtLeast(1), "0").expect_err("must be rejected");
        assert_eq!(e, "invalid value '0' for config 'k': value must be at least 1");
        assert!(parse(ConfigType::Int, Validator::AtLeast(1), "1").is_ok());
        assert!(parse(ConfigType::Int, Validator::Between(1, 17), "18")
            .expect_err("must be rejected")
            .contains("between 1 and 17"));
        assert!(parse(ConfigType::Double, Validator::BetweenF64(0.0, 1.0), "1.5").is_err());
        assert!(parse(ConfigType::Double, Validator::BetweenF64(0.0, 1.0), "1").is_ok());
        let e = parse(ConfigType::String, Validator::OneOf(&["CreateTime", "LogAppendTime"]), "createtime")
            .expect_err("must be rejected");
        assert!(e.contains("one of: CreateTime, LogAppendTime"), "{e}");
        let e = parse(ConfigType::List, Validator::ListOf(&["compact", "delete"]), "delete,archive")
            .expect_err("must be rejected");
        assert!(e.contains("'archive'"), "{e}");
        assert!(parse(ConfigType::List, Validator::ListOf(&["compact", "delete"]), "").is_ok());
    }

    #[test]
    fn prints_values_as_kafka_does() {
        assert_eq!(ConfigValue::Double(0.5).to_kafka_string(), "0.5");
        assert_eq!(ConfigValue::Double(1.0).to_kafka_string(), "1.0");
        assert_eq!(ConfigValue::Double(f64::MAX).to_kafka_string(), "1.7976931348623157E308");
        assert_eq!(ConfigValue::List(vec!["a".into(), "b".into()]).to_kafka_string(), "a,b");
        assert_eq!(ConfigValue::Boolean(true).to_kafka_string(), "true");
    }
}
