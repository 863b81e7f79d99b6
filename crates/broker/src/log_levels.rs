//! Log levels changed at runtime (Kafka's broker loggers, KIP-412): DescribeConfigs and
//! IncrementalAlterConfigs on a `BROKER_LOGGER` resource, as
//! `kafka-configs --entity-type broker-loggers --entity-name ID` uses them.
//!
//! Spool logs with `tracing`; a logger is a `tracing` target (a module path such as
//! `spool_broker::replica_fetcher`, or `spool::requests` for the request trace), and
//! `root` is the level of every target without one of its own. Levels take Kafka's
//! (log4j) names: `OFF`, `FATAL`, `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`, `ALL`.
//! Levels are the broker process's own, as in Kafka: not kept in the metadata, gone at
//! restart.
//!
//! The program that installs the log subscriber installs a [`LogLevelControl`] for
//! it ([`install`]); without one (a broker embedded in tests), the requests are refused.

use std::sync::OnceLock;

/// Kafka's `LogLevelConfig.VALID_LOG_LEVELS`.
pub const LOG_LEVELS: [&str; 8] = ["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL"];

/// The name of the logger every target falls back on.
pub const ROOT_LOGGER: &str = "root";

/// Changes the levels of the process's log subscriber.
pub trait LogLevelControl: Send + Sync {
    /// `root` with its level, then every logger given a level at runtime, with its level.
    fn levels(&self) -> Vec<(String, String)>;
    /// Sets `logger` (checked by [`check_logger`]) to `level` (one of [`LOG_LEVELS`]).
    ///
    /// # Errors
    /// When the subscriber refuses the new filter.
    fn set(&self, logger: &str, level: &str) -> Result<(), String>;
    /// Takes back the level set for `logger`: it follows `root` again.
    ///
    /// # Errors
    /// When the subscriber refuses the new filter.
    fn reset(&self, logger: &str) -> Result<(), String>;
}

static CONTROL: OnceLock<Box<dyn LogLevelControl>> = OnceLock::new();

/// Installs the process's control of log levels; only the first call counts.
pub fn install(control: Box<dyn LogLevelControl>) {
    let _ = CONTROL.set(control);
}

/// The installed control, if any.
pub(crate) fn control() -> Option<&'static dyn LogLevelControl> {
    CONTROL.get().map(|c| c.as_ref())
}

/// The `tracing` level of a Kafka (log4j) level name; `None` when it is not one.
pub fn tracing_level(level: &str) -> Option<&'static str> {
    Some(match level {
        "OFF" => "off",
        "FATAL" | "ERROR" => "error",
        "WARN" => "warn",
        "INFO" => "info",
        "DEBUG" => "debug",
        "TRACE" | "ALL" => "trace",
        _ => return None,
    })
}

/// Whether `logger` can name a `tracing` target (letters, digits, `_`, `-`, `.`, `:`).
///
/// # Errors
/// Why it cannot.
pub fn check_logger(logger: &str) -> Result<(), String> {
    let valid = !logger.is_empty() && logger.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if valid {
        Ok(())
    } else {
        Err(format!("{logger:?} is not a logger name: name a tracing target such as spool_broker::replica_fetcher, or root"))
    }
}

/// Checks a SET of `logger` to `level` as Kafka's `ConfigAdminManager` does.
///
/// # Errors
/// Kafka's message when the level is not one.
pub fn check_level(logger: &str, level: &str) -> Result<(), String> {
    check_logger(logger)?;
    if tracing_level(level).is_none() {
        return Err(format!(
            "Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log levels are {}",
            LOG_LEVELS.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_level_names_map_to_tracing_levels() {
        assert_eq!(tracing_level("FATAL"), Some("error"));
        assert_eq!(tracing_level("ALL"), Some("trace"));
        assert_eq!(tracing_level("debug"), None, "Kafka's names are upper case");
        assert!(check_level("spool_broker::replica_fetcher", "DEBUG").is_ok());
        assert!(check_level("root", "LOUD").unwrap_err().contains("Valid log levels are OFF, FATAL"));
        assert!(check_level("a=b", "INFO").unwrap_err().contains("not a logger name"));
        assert!(check_logger("").is_err());
    }
}
