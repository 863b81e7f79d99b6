//! Listener, quorum voter and security protocol values: their parsing and validation,
//! as Kafka's `listenerListToEndPoints`, `QuorumConfig.parseVoterConnections` and
//! `listener.security.protocol.map` parsing do.

use std::collections::{BTreeMap, BTreeSet};

use super::value::parse_list;

/// A network listener: `NAME://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    /// The listener name, upper-cased as Kafka normalises it (`PLAINTEXT`, `CONTROLLER`).
    pub name: String,
    /// The host; empty means every interface (bind) or the default one.
    pub host: String,
    /// The port; 0 asks the OS for any free port when binding.
    pub port: u16,
}

/// A voter of the metadata quorum: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuorumVoter {
    /// The voter's node id.
    pub id: i32,
    /// Host of its controller listener.
    pub host: String,
    /// Port of its controller listener.
    pub port: u16,
}

/// The security protocol of a listener (`listener.security.protocol.map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// No encryption, no authentication.
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL authentication without encryption.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name of the protocol (`PLAINTEXT`, `SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's id of the protocol, as broker registrations carry it.
    pub fn id(self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

/// Parses `NAME://host:port,...` as Kafka's `listenerListToEndPoints` does, requiring distinct
/// names; the host may be empty or a bracketed IPv6 address.
pub(crate) fn parse_listeners(value: &str) -> Result<Vec<Listener>, String> {
    let mut listeners: Vec<Listener> = Vec::new();
    for entry in parse_list(value.trim()).into_iter().filter(|e| !e.is_empty()) {
        let (name, address) = entry.split_once("://").ok_or_else(|| {
            format!("'{entry}' is not a listener; write it as NAME://host:port, e.g. PLAINTEXT://127.0.0.1:9092")
        })?;
        if name.is_empty() {
            return Err(format!("'{entry}' has no listener name before ://"));
        }
        let (host, port) =
            split_host_port(address).ok_or_else(|| format!("'{entry}' needs a port: NAME://host:port"))?;
        if !is_host_text(host) {
            return Err(format!("'{entry}' has an invalid host '{host}'"));
        }
        let port: u16 =
            port.parse().map_err(|_| format!("'{entry}' has an invalid port '{port}'; ports are 0 to 65535"))?;
        let name = name.to_uppercase();
        if listeners.iter().any(|l| l.name == name) {
            return Err(format!("listener name {name} appears twice; each listener needs its own name"));
        }
        listeners.push(Listener { name, host: host.to_string(), port });
    }
    Ok(listeners)
}

/// Splits `host:port` or `[v6]:port` at the last colon; the host may be empty.
fn split_host_port(address: &str) -> Option<(&str, &str)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host, port))
}

/// Whether `host` holds only what a host name or an address (IPv6 with its zone) may.
fn is_host_text(host: &str) -> bool {
    host.chars().all(|c| c.is_ascii_alphanumeric() || "-%._:".contains(c))
}

/// Parses a non-empty `host:port`.
pub(crate) fn parse_host_port(entry: &str) -> Result<(String, u16), String> {
    let (host, port) = split_host_port(entry).ok_or_else(|| format!("'{entry}' must be host:port"))?;
    if host.is_empty() || !is_host_text(host) {
        return Err(format!("'{entry}' has no valid host; write it as host:port"));
    }
    let port: u16 = port.parse().map_err(|_| format!("'{entry}' has an invalid port; ports are 0 to 65535"))?;
    Ok((host.to_string(), port))
}

/// Parses one `id@host:port` voter.
pub(crate) fn parse_voter(entry: &str) -> Result<QuorumVoter, String> {
    let (id, address) = entry
        .split_once('@')
        .filter(|(_, address)| !address.contains('@'))
        .ok_or_else(|| format!("'{entry}' must be in the form id@host:port"))?;
    let id: i32 = id.parse().map_err(|_| format!("'{entry}' has an invalid voter id '{id}'"))?;
    if id < 0 {
        return Err(format!("'{entry}': voter ids are 0 or more"));
    }
    let (host, port) = parse_host_port(address).map_err(|e| format!("{e} (in voter '{entry}', form id@host:port)"))?;
    Ok(QuorumVoter { id, host, port })
}

/// Parses `NAME:PROTOCOL,...`; names upper-cased and distinct, protocols Kafka's four.
pub(crate) fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in parse_list(value.trim()).into_iter().filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("'{entry}' must be NAME:PROTOCOL, e.g. PLAINTEXT:PLAINTEXT"))?;
        let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
            format!("'{protocol}' is not a security protocol; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        })?;
        if map.insert(name.trim().to_uppercase(), protocol).is_some() {
            return Err(format!("listener {name} appears twice in the map"));
        }
    }
    Ok(map)
}

/// Checks that the listeners to bind have distinct ports, as Kafka's
/// `listenerListToEndPoints(requireDistinctPorts = true)`: port 0 (any free port) may
/// repeat, and two listeners may share a port only when one binds an IPv4 address and
/// the other an IPv6 address.
pub(crate) fn check_distinct_ports(listeners: &[Listener]) -> Result<(), String> {
    let mut by_port: BTreeMap<u16, Vec<&Listener>> = BTreeMap::new();
    for listener in listeners.iter().filter(|l| l.port != 0) {
        by_port.entry(listener.port).or_default().push(listener);
    }
    for (port, sharing) in by_port.into_iter().filter(|(_, sharing)| sharing.len() > 1) {
        let v4 = |h: &str| h.parse::<std::net::Ipv4Addr>().is_ok();
        let v6 = |h: &str| h.parse::<std::net::Ipv6Addr>().is_ok();
        let one_of_each = match sharing.as_slice() {
            [a, b] => (v4(&a.host) && v6(&b.host)) || (v6(&a.host) && v4(&b.host)),
            _ => false,
        };
        if !one_of_each {
            let names: Vec<&str> = sharing.iter().map(|l| l.name.as_str()).collect();
            return Err(format!(
                "listeners {} all use port {port}; each listener needs its own port (two may share one only when one binds an IPv4 and the other an IPv6 address)",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_listeners(value: &str) -> Result<(), String> {
    parse_listeners(value).map(|_| ())
}

pub(crate) fn check_listener_protocol_map(value: &str) -> Result<(), String> {
    parse_protocol_map(value).map(|_| ())
}

pub(crate) fn check_quorum_voters(value: &str) -> Result<(), String> {
    let mut ids = BTreeSet::new();
    for entry in parse_list(value) {
        let voter = parse_voter(&entry)?;
        if !ids.insert(voter.id) {
            return Err(format!("voter id {} appears twice", voter.id));
        }
    }
    Ok(())
}

pub(crate) fn check_quorum_bootstrap_servers(value: &str) -> Result<(), String> {
    parse_list(value).iter().try_for_each(|entry| parse_host_port(entry).map(|_| ()))
}

/// Parses `max.connections.per.ip.overrides` as Kafka does: `host:count,...`, split at
/// each entry's last colon (so an IPv6 address needs no brackets), the host an address
/// or a name, the count at least 0.
pub(crate) fn parse_connection_overrides(value: &str) -> Result<Vec<(String, i32)>, String> {
    let mut overrides = Vec::new();
    for entry in parse_list(value.trim()).into_iter().filter(|e| !e.is_empty()) {
        let (host, count) =
            split_host_port(&entry).ok_or_else(|| format!("'{entry}' must be host:count, e.g. 127.0.0.1:200"))?;
        if host.is_empty() || !is_host_text(host) {
            return Err(format!("'{entry}' has no valid host; write it as host:count"));
        }
        let count: i32 = count
            .trim()
            .parse()
            .ok()
            .filter(|count| *count >= 0)
            .ok_or_else(|| format!("'{entry}' has an invalid count; counts are 0 to 2147483647"))?;
        overrides.push((host.to_string(), count));
    }
    Ok(overrides)
}

pub(crate) fn check_connection_overrides(value: &str) -> Result<(), String> {
    parse_connection_overrides(value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_overrides_parse_like_kafka() {
        assert_eq!(
            parse_connection_overrides(" 127.0.0.1:200 , broker-1.example:5,::1:0,[fe80::1]:7"),
            Ok(vec![
                ("127.0.0.1".to_string(), 200),
                ("broker-1.example".to_string(), 5),
                ("::1".to_string(), 0),
                ("fe80::1".to_string(), 7),
            ])
        );
        assert_eq!(parse_connection_overrides(""), Ok(vec![]));
        for bad in ["127.0.0.1", "127.0.0.1:", ":5", "host:-1", "host:many", "host:99999999999", "a b:1"] {
            assert!(parse_connection_overrides(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listeners_parse_like_kafka() {
        assert_eq!(
            parse_listeners(" plaintext://:9092 , SSL://[fe80::1%eth0]:9093,INTERNAL://broker-1.example:0 "),
            Ok(vec![
                Listener { name: "PLAINTEXT".into(), host: "".into(), port: 9092 },
                Listener { name: "SSL".into(), host: "fe80::1%eth0".into(), port: 9093 },
                Listener { name: "INTERNAL".into(), host: "broker-1.example".into(), port: 0 },
            ])
        );
        assert_eq!(parse_listeners(""), Ok(vec![]));
        for bad in [
            "127.0.0.1:9092",
            "PLAINTEXT://host",
            "PLAINTEXT://host:99999",
            "PLAINTEXT://host:-1",
            "PLAINTEXT://a:1,plaintext://b:2",
            "://a:1",
            "PLAINTEXT://ho st:1",
        ] {
            assert!(parse_listeners(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn listeners_need_distinct_ports_like_kafka() {
        let listeners = |text: &str| parse_listeners(text).expect("valid listeners");
        assert!(check_distinct_ports(&listeners("INTERNAL://:9092,EXTERNAL://:9094,CONTROLLER://:9093")).is_ok());
        assert!(check_distinct_ports(&listeners("A://127.0.0.1:0,B://127.0.0.1:0")).is_ok());
        assert!(check_distinct_ports(&listeners("A://127.0.0.1:9092,B://[::1]:9092")).is_ok());
        let e = check_distinct_ports(&listeners("INTERNAL://:9092,EXTERNAL://0.0.0.0:9092")).expect_err("same port");
        assert!(e.contains("INTERNAL, EXTERNAL") && e.contains("9092"), "{e}");
        assert!(check_distinct_ports(&listeners("A://127.0.0.1:9092,B://10.0.0.1:9092")).is_err());
        assert!(check_distinct_ports(&listeners("A://127.0.0.1:9092,B://[::1]:9092,C://host:9092")).is_err());
    }

    #[test]
    fn voters_parse_like_kafka() {
        assert_eq!(
            parse_voter("3@controller-3:9093"),
            Ok(QuorumVoter { id: 3, host: "controller-3".into(), port: 9093 })
        );
        assert_eq!(parse_voter("1@[::1]:9093"), Ok(QuorumVoter { id: 1, host: "::1".into(), port: 9093 }));
        for bad in ["1@host", "x@host:9093", "1@:9093", "host:9093", "1@a@b:1", "-1@a:1"] {
            assert!(parse_voter(bad).is_err(), "{bad} should be rejected");
        }
        assert!(check_quorum_voters("1@a:1,2@b:1").is_ok());
        assert!(check_quorum_voters("1@a:1,1@b:1").expect_err("must be rejected").contains("appears twice"));
    }

    #[test]
    fn protocol_map_parses_and_rejects_unknown_protocols() {
        let map = parse_protocol_map("CONTROLLER:PLAINTEXT, external:SASL_SSL").expect("valid map");
        assert_eq!(map.get("CONTROLLER"), Some(&SecurityProtocol::Plaintext));
        assert_eq!(map.get("EXTERNAL"), Some(&SecurityProtocol::SaslSsl));
        assert!(parse_protocol_map("A:TLS").is_err());
        assert!(parse_protocol_map("A").is_err());
        assert!(parse_protocol_map("A:SSL,a:PLAINTEXT").is_err());
    }
}
