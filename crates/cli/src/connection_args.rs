//! Flags and property handling shared by the client tools.
//!
//! - the bootstrap server and its old aliases (`--zookeeper`, `--broker-list`);
//! - `key=value` properties from flags and from Java `.properties` files;
//! - translation of Java client property names to librdkafka's, so the properties a
//!   Kafka user passes (`--producer-property`, `--consumer.config`) mean the same here.

use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::ClientConfig;
use spool_metadata::config::{parse_jaas, PLAIN_LOGIN_MODULE};

use crate::client_tls::{is_security_property, ClientSecurity};

/// Where the tools find the cluster: `--bootstrap-server` or one of its aliases.
#[derive(Args, Debug, Clone, Default)]
#[group(id = "bootstrap", required = true, multiple = false)]
pub(crate) struct BootstrapArgs {
    /// REQUIRED: the server(s) to connect to, HOST:PORT[,HOST:PORT...]
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap_server: Option<String>,
    /// Accepted for old scripts: Spool has no ZooKeeper, the hosts are used as the
    /// bootstrap server
    #[arg(long, value_name = "HOST:PORT")]
    zookeeper: Option<String>,
    /// Alias of --bootstrap-server
    #[arg(long = "broker-list", value_name = "HOST:PORT")]
    broker_list: Option<String>,
}

impl BootstrapArgs {
    /// The bootstrap list, normalised (`a: 9092, b:9092` → `a:9092,b:9092`).
    ///
    /// Prints a note on stderr when an alias was used; `broker_list_is_native` says
    /// the tool documents `--broker-list` itself (the console producer), so no note.
    ///
    /// # Errors
    /// When the list is empty.
    pub(crate) fn resolve(&self, broker_list_is_native: bool) -> Result<String> {
        let (raw, flag) = match (&self.bootstrap_server, &self.zookeeper, &self.broker_list) {
            (Some(s), _, _) => (s, "--bootstrap-server"),
            (None, Some(s), _) => (s, "--zookeeper"),
            (None, None, Some(s)) => (s, "--broker-list"),
            (None, None, None) => bail!("--bootstrap-server must be specified"),
        };
        let servers = normalize_server_list(raw);
        if servers.is_empty() {
            bail!("{flag} needs at least one HOST:PORT");
        }
        match flag {
            "--zookeeper" => eprintln!("note: Spool has no ZooKeeper; using {servers} as the bootstrap server"),
            "--broker-list" if !broker_list_is_native => {
                eprintln!("note: --broker-list is an alias; using {servers} as the bootstrap server")
            }
            _ => {}
        }
        Ok(servers)
    }
}

/// Removes whitespace inside a comma-separated `HOST:PORT` list and drops empty items.
pub(crate) fn normalize_server_list(raw: &str) -> String {
    raw.split(',')
        .map(|s| s.split_whitespace().collect::<String>())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks that at least one bootstrap server accepts a TCP connection, so a tool can
/// say at once that the cluster is unreachable instead of letting its client retry.
///
/// # Errors
/// When no address of any server can be resolved and connected within `timeout` each.
pub(crate) fn probe_bootstrap(servers: &str, timeout: std::time::Duration) -> Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let mut failures = Vec::new();
    for server in servers.split(',').filter(|s| !s.is_empty()) {
        let addrs = match server.to_socket_addrs() {
            Ok(addrs) => addrs,
            Err(e) => {
                failures.push(format!("{server}: cannot resolve ({e})"));
                continue;
            }
        };
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(_) => return Ok(()),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
    }
    bail!("could not connect to any bootstrap server ({})", failures.join("; "))
}

/// Parses `key=value` (a clap value parser).
///
/// # Errors
/// When there is no `=` or the key is empty.
pub(crate) fn parse_key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {arg:?}")),
    }
}

/// Reads a Java `.properties` file: `key=value` or `key: value` lines, `#`/`!`
/// comments, blank lines ignored.
///
/// # Errors
/// When the file cannot be read or a line has no separator.
pub(crate) fn load_properties(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_properties(&text).with_context(|| format!("in {}", path.display()))
}

/// Reads an admin tool's `--command-config` file, as Kafka's tools do (so a missing or
/// malformed one is an error): the security properties say how to connect (see
/// [`ClientSecurity`]); each other property is ignored with a warning.
///
/// # Errors
/// As [`load_properties`] and [`ClientSecurity::from_properties`].
pub(crate) fn read_command_config(path: Option<&Path>) -> Result<ClientSecurity> {
    let Some(path) = path else {
        return Ok(ClientSecurity::default());
    };
    let properties = load_properties(path)?;
    for (key, _) in &properties {
        if !is_security_property(key) {
            tracing::warn!("ignoring the client property {key} of {} (not supported)", path.display());
        }
    }
    ClientSecurity::from_properties(&properties, path)
}

fn parse_properties(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(at) = line.find(['=', ':']) else {
            bail!("line {}: expected key=value, got {line:?}", number + 1);
        };
        out.push((line[..at].trim().to_string(), line[at + 1..].trim().to_string()));
    }
    Ok(out)
}

/// Java client properties that have no librdkafka counterpart (serializers,
/// Java classes, JVM memory settings). They are skipped with a warning.
const JAVA_ONLY: &[&str] = &[
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "buffer.memory",
    "max.block.ms",
    "interceptor.classes",
    "partitioner.class",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "metrics.recording.level",
    "default.api.timeout.ms",
    "max.poll.records",
    "exclude.internal.topics",
    "auto.include.jmx.reporter",
    "security.providers",
    "send.buffer.bytes",
    "receive.buffer.bytes",
];

/// Java property name and value → librdkafka's, or `None` to skip it.
pub(crate) fn translate_java_property(key: &str, value: &str) -> Option<(String, String)> {
    if JAVA_ONLY.contains(&key) {
        return None;
    }
    let (key, value) = match key {
        "fetch.max.wait.ms" => ("fetch.wait.max.ms", value.to_string()),
        "max.request.size" => ("message.max.bytes", value.to_string()),
        "auto.offset.reset" if value == "none" => ("auto.offset.reset", "error".to_string()),
        "partition.assignment.strategy" if value.contains('.') => return None,
        _ => (key, value.to_string()),
    };
    Some((key.to_string(), value))
}

/// Applies Java-style properties to a librdkafka config, warning about skipped ones.
/// A `sasl.jaas.config` of Kafka's PlainLoginModule becomes librdkafka's
/// `sasl.username` and `sasl.password`.
pub(crate) fn apply_java_properties(config: &mut ClientConfig, props: &[(String, String)]) {
    for (key, value) in props {
        if key == "sasl.jaas.config" {
            match parse_jaas(value) {
                Ok(entry) if entry.module == PLAIN_LOGIN_MODULE => {
                    for (java, librdkafka) in [("username", "sasl.username"), ("password", "sasl.password")] {
                        if let Some(value) = entry.option(java) {
                            config.set(librdkafka, value);
                        }
                    }
                }
                Ok(entry) => tracing::warn!("ignoring sasl.jaas.config of {}: only PlainLoginModule's user is read", entry.module),
                Err(e) => tracing::warn!("ignoring the malformed sasl.jaas.config: {e}"),
            }
            continue;
        }
        match translate_java_property(key, value) {
            Some((k, v)) => {
                config.set(k, v);
            }
            None => tracing::warn!("ignoring the Java client property {key} (it has no librdkafka counterpart)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lists_are_normalised() {
        assert_eq!(normalize_server_list("a: 9092, b:9092,"), "a:9092,b:9092");
        assert_eq!(normalize_server_list(" , "), "");
    }

    #[test]
    fn probing_a_closed_port_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = probe_bootstrap(&format!("127.0.0.1:{port}"), std::time::Duration::from_secs(2)).unwrap_err();
        assert!(err.to_string().contains(&port.to_string()), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        probe_bootstrap(&format!("127.0.0.1:{port},{open}"), std::time::Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn key_values_split_at_the_first_equals() {
        assert_eq!(parse_key_value("key.separator=="), Ok(("key.separator".into(), "=".into())));
        assert_eq!(parse_key_value("print.key=true"), Ok(("print.key".into(), "true".into())));
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn properties_files_parse_like_java() {
        let props = parse_properties("# comment\n! also\n\nacks=all\nlinger.ms : 5\n").unwrap();
        assert_eq!(props, vec![("acks".into(), "all".into()), ("linger.ms".into(), "5".into())]);
        assert!(parse_properties("garbage line").is_err());
    }

    #[test]
    fn a_plain_jaas_config_gives_librdkafka_its_user() {
        let mut config = ClientConfig::new();
        let jaas = format!("{PLAIN_LOGIN_MODULE} required username=\"alice\" password=\"a b\";");
        apply_java_properties(&mut config, &[("sasl.jaas.config".into(), jaas), ("sasl.mechanism".into(), "PLAIN".into())]);
        assert_eq!(config.get("sasl.username"), Some("alice"));
        assert_eq!(config.get("sasl.password"), Some("a b"));
        assert_eq!(config.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(config.get("sasl.jaas.config"), None);
    }

    #[test]
    fn java_names_map_to_librdkafka() {
        assert_eq!(translate_java_property("fetch.max.wait.ms", "10"), Some(("fetch.wait.max.ms".into(), "10".into())));
        assert_eq!(translate_java_property("auto.offset.reset", "none"), Some(("auto.offset.reset".into(), "error".into())));
        assert_eq!(translate_java_property("key.serializer", "x"), None);
        assert_eq!(translate_java_property("acks", "all"), Some(("acks".into(), "all".into())));
    }
}
