//! The process's log filter, and for `spool server` the means to change it at runtime
//! (`kafka-configs --entity-type broker-loggers`, see [`spool_broker::log_levels`]).
//!
//! The filter starts from `RUST_LOG` (or the command's default). Levels set at runtime
//! are `target=level` directives laid over it, replacing a directive of the same target;
//! a level set for `root` replaces its bare default level.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard};

use spool_broker::log_levels::{tracing_level, LogLevelControl, ROOT_LOGGER};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Installs the log subscriber (stderr) with `RUST_LOG` or `default_filter`; with
/// `runtime_levels`, also the control of its levels for the broker.
pub(crate) fn init(default_filter: &str, runtime_levels: bool) {
    let base = std::env::var("RUST_LOG").ok().filter(|spec| EnvFilter::try_new(spec).is_ok());
    let base = base.unwrap_or_else(|| default_filter.to_string());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&base));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colours()))
        .try_init();
    if installed.is_ok() && runtime_levels {
        spool_broker::log_levels::install(Box::new(RuntimeLevels { handle, base, set: Mutex::new(BTreeMap::new()) }));
    }
}

/// Colours only on a terminal, and not when `NO_COLOR` is set: a log written to a file
/// or collected by a service manager stays plain text, as Kafka's.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

struct RuntimeLevels {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The directives the process started with.
    base: String,
    /// Levels set at runtime (Kafka's names), by logger; `root` among them when set.
    set: Mutex<BTreeMap<String, String>>,
}

impl RuntimeLevels {
    fn levels_set(&self) -> MutexGuard<'_, BTreeMap<String, String>> {
        self.set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn apply(&self, set: &BTreeMap<String, String>) -> Result<(), String> {
        let spec = filter_spec(&self.base, set);
        let filter = EnvFilter::try_new(&spec).map_err(|e| format!("log filter {spec:?}: {e}"))?;
        self.handle.reload(filter).map_err(|e| format!("the log filter could not be replaced: {e}"))
    }
}

impl LogLevelControl for RuntimeLevels {
    fn levels(&self) -> Vec<(String, String)> {
        let set = self.levels_set();
        let root = set.get(ROOT_LOGGER).cloned().unwrap_or_else(|| root_level(&self.base));
        std::iter::once((ROOT_LOGGER.to_string(), root))
            .chain(set.iter().filter(|(logger, _)| *logger != ROOT_LOGGER).map(|(l, v)| (l.clone(), v.clone())))
            .collect()
    }

    fn set(&self, logger: &str, level: &str) -> Result<(), String> {
        let mut set = self.levels_set();
        let mut next = set.clone();
        next.insert(logger.to_string(), level.to_string());
        self.apply(&next)?;
        *set = next;
        Ok(())
    }

    fn reset(&self, logger: &str) -> Result<(), String> {
        let mut set = self.levels_set();
        let mut next = set.clone();
        next.remove(logger);
        self.apply(&next)?;
        *set = next;
        Ok(())
    }
}

/// The filter of `base` with the levels `set` at runtime laid over it.
fn filter_spec(base: &str, set: &BTreeMap<String, String>) -> String {
    let directive_target = |d: &str| d.split_once('=').map(|(target, _)| target.trim().to_string());
    let mut directives: Vec<String> = base
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| match directive_target(d) {
            Some(target) => !set.contains_key(&target),
            // A bare level: the root's, unless set at runtime.
            None => !set.contains_key(ROOT_LOGGER),
        })
        .map(str::to_string)
        .collect();
    for (logger, level) in set {
        let level = tracing_level(level).unwrap_or("info");
        if logger == ROOT_LOGGER {
            directives.insert(0, level.to_string());
        } else {
            directives.push(format!("{logger}={level}"));
        }
    }
    directives.join(",")
}

/// The root level `base` gives, in Kafka's names (the last bare level; tracing's
/// default, ERROR, without one).
fn root_level(base: &str) -> String {
    base.split(',')
        .map(str::trim)
        .rfind(|d| !d.is_empty() && !d.contains('='))
        .map_or("ERROR", |level| match level.to_ascii_lowercase().as_str() {
            "off" => "OFF",
            "error" => "ERROR",
            "warn" => "WARN",
            "debug" => "DEBUG",
            "trace" => "TRACE",
            _ => "INFO",
        })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_levels_replace_the_directives_of_their_target() {
        let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let base = "info,openraft=warn";
        assert_eq!(filter_spec(base, &BTreeMap::new()), "info,openraft=warn");
        assert_eq!(filter_spec(base, &set(&[("openraft", "DEBUG")])), "info,openraft=debug");
        assert_eq!(filter_spec(base, &set(&[("spool::requests", "ALL")])), "info,openraft=warn,spool::requests=trace");
        assert_eq!(filter_spec(base, &set(&[("root", "WARN"), ("x", "FATAL")])), "warn,openraft=warn,x=error");
        assert_eq!(root_level(base), "INFO");
        assert_eq!(root_level("openraft=warn"), "ERROR");
    }
}
