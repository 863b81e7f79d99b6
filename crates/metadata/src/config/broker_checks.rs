//! The startup checks of a [`BrokerConfig`] that no single value can make: agreement
//! between configs, as Kafka's `KafkaConfig.validateValues` does.

use std::collections::BTreeSet;

use super::listener::check_distinct_ports;
use super::{BrokerConfig, ConfigError, ConfigSource, ProcessRole, SecurityProtocol};

/// Names as `A, B, C` for messages.
fn join(names: &BTreeSet<&str>) -> String {
    names.iter().copied().collect::<Vec<_>>().join(", ")
}

impl BrokerConfig {
    /// Checks what no single value can: agreement between configs, as Kafka's
    /// `KafkaConfig.validateValues` does at startup.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`] naming the configs and what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail =
            |keys: &[&'static str], reason: String| Err(ConfigError::Inconsistent { keys: keys.to_vec(), reason });
        if let (Some(node), Some(broker)) = (self.static_values.get("node.id"), self.static_values.get("broker.id")) {
            if node.parse::<i32>().ok() != broker.parse::<i32>().ok() {
                return fail(
                    &["node.id", "broker.id"],
                    format!("node.id ({node}) and broker.id ({broker}) must be equal; set only node.id"),
                );
            }
        }
        if self.node_id() < 0 {
            return fail(&["node.id"], "node.id must be 0 or more".into());
        }
        let roles = self.list("process.roles");
        if roles.is_empty() {
            return fail(&["process.roles"], "process.roles must name broker, controller, or both".into());
        }
        if roles.iter().collect::<BTreeSet<_>>().len() != roles.len() {
            return fail(&["process.roles"], format!("process.roles lists a role twice: {}", roles.join(",")));
        }
        if self.log_roll_ms() < 1 {
            return fail(&["log.roll.ms", "log.roll.hours"], "log.roll.ms must be at least 1".into());
        }
        if self.log_roll_jitter_ms() < 0 {
            return fail(
                &["log.roll.jitter.ms", "log.roll.jitter.hours"],
                "log.roll.jitter.ms must be 0 or more".into(),
            );
        }
        if self.log_retention_ms() == 0 {
            return fail(
                &["log.retention.ms", "log.retention.minutes", "log.retention.hours"],
                "log retention must be -1 (unlimited) or at least 1 ms".into(),
            );
        }
        if self.log_dirs().is_empty() {
            return fail(
                &["log.dirs", "log.dir"],
                "at least one log directory must be set in log.dirs or log.dir".into(),
            );
        }
        let cleaner_threads = i64::from(self.int("log.cleaner.threads"));
        if cleaner_threads > 0 && self.long("log.cleaner.dedupe.buffer.size") / cleaner_threads <= 1024 * 1024 {
            return fail(
                &["log.cleaner.dedupe.buffer.size", "log.cleaner.threads"],
                "log.cleaner.dedupe.buffer.size must be more than 1 MiB per cleaner thread".into(),
            );
        }
        let fetch_wait_ms = i64::from(self.replica_fetch_wait_max_ms());
        if fetch_wait_ms > i64::from(self.int("replica.socket.timeout.ms")) {
            return fail(
                &["replica.fetch.wait.max.ms", "replica.socket.timeout.ms"],
                "replica.socket.timeout.ms must be at least replica.fetch.wait.max.ms".into(),
            );
        }
        if fetch_wait_ms > self.replica_lag_time_max_ms() {
            return fail(
                &["replica.fetch.wait.max.ms", "replica.lag.time.max.ms"],
                "replica.fetch.wait.max.ms must be at most replica.lag.time.max.ms".into(),
            );
        }
        if self.long("log.cleaner.min.compaction.lag.ms") > self.long("log.cleaner.max.compaction.lag.ms") {
            return fail(
                &["log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms"],
                "log.cleaner.min.compaction.lag.ms must be at most log.cleaner.max.compaction.lag.ms".into(),
            );
        }
        let queued_bytes = self.long("queued.max.request.bytes");
        if queued_bytes > 0 && queued_bytes < i64::from(self.socket_request_max_bytes()) {
            return fail(
                &["queued.max.request.bytes", "socket.request.max.bytes"],
                "queued.max.request.bytes must be -1 (unlimited) or at least socket.request.max.bytes".into(),
            );
        }
        self.validate_listeners()?;
        self.validate_quorum()
    }

    /// The listener checks of Kafka's `validateValues`, plus Spool's: only PLAINTEXT.
    fn validate_listeners(&self) -> Result<(), ConfigError> {
        let fail =
            |keys: &[&'static str], reason: String| Err(ConfigError::Inconsistent { keys: keys.to_vec(), reason });
        let listeners = self.listeners();
        let controller_names = self.controller_listener_names();
        for listener in &listeners {
            match self.listener_security_protocol(&listener.name) {
                None => {
                    return fail(
                        &["listeners", "listener.security.protocol.map"],
                        format!("no security protocol is defined for listener {0}; add {0}:PLAINTEXT to listener.security.protocol.map", listener.name),
                    )
                }
                Some(SecurityProtocol::Plaintext) => {}
                Some(other) if controller_names.contains(&listener.name) => {
                    return fail(
                        &["controller.listener.names", "listener.security.protocol.map"],
                        format!(
                            "controller listener {0} uses {1}; Spool's controllers and brokers talk to each other over PLAINTEXT only: map it as {0}:PLAINTEXT ({1} listeners are for clients)",
                            listener.name,
                            other.name()
                        ),
                    )
                }
                Some(protocol) => {
                    if matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
                        self.ssl_settings(&listener.name)?;
                    }
                    if matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl) {
                        self.sasl_settings(&listener.name)?;
                    }
                }
            }
        }
        check_distinct_ports(&listeners).or_else(|reason| fail(&["listeners"], reason))?;
        let listener_names: BTreeSet<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
        let advertised = self.advertised_listeners();
        if advertised.is_empty() {
            return fail(
                &["advertised.listeners", "listeners"],
                "there must be at least one advertised broker listener (not a controller listener)".into(),
            );
        }
        for listener in &advertised {
            if listener.host == "0.0.0.0" {
                return fail(
                    &["advertised.listeners"],
                    format!("advertised listener {} uses 0.0.0.0, which clients cannot connect to; advertise a host name or address", listener.name),
                );
            }
            if !listener_names.contains(listener.name.as_str()) {
                return fail(
                    &["advertised.listeners", "listeners"],
                    format!(
                        "advertised listener {} is not one of the listeners ({}); add it to listeners or remove it from advertised.listeners",
                        listener.name,
                        join(&listener_names)
                    ),
                );
            }
        }
        if self.is_set("inter.broker.listener.name") && self.is_set("security.inter.broker.protocol") {
            return fail(
                &["inter.broker.listener.name", "security.inter.broker.protocol"],
                "set only one of inter.broker.listener.name and security.inter.broker.protocol".into(),
            );
        }
        if self.process_roles().contains(&ProcessRole::Broker) {
            let name = self.inter_broker_listener_name();
            if !advertised.iter().any(|l| l.name == name) {
                let advertised_names: BTreeSet<&str> = advertised.iter().map(|l| l.name.as_str()).collect();
                let origin = if self.is_set("inter.broker.listener.name") {
                    "inter.broker.listener.name"
                } else {
                    "the default from security.inter.broker.protocol"
                };
                return fail(
                    &["inter.broker.listener.name", "advertised.listeners"],
                    format!(
                        "the inter-broker listener {name} ({origin}) must be one of the advertised broker listeners ({}); set inter.broker.listener.name to one of them",
                        join(&advertised_names)
                    ),
                );
            }
            if let Some(protocol) = self.listener_security_protocol(&name).filter(|p| *p != SecurityProtocol::Plaintext) {
                let protocol = protocol.name();
                return fail(
                    &["inter.broker.listener.name", "security.inter.broker.protocol"],
                    format!(
                        "the inter-broker listener {name} uses {protocol}; Spool's brokers talk to each other over PLAINTEXT only: set inter.broker.listener.name to a PLAINTEXT listener ({protocol} listeners are for clients)"
                    ),
                );
            }
        }
        if self.process_roles().contains(&ProcessRole::Controller) {
            if let Some(missing) = controller_names.iter().find(|n| !listener_names.contains(n.as_str())) {
                return fail(
                    &["controller.listener.names", "listeners"],
                    format!(
                        "controller listener {missing} must be one of the listeners when this node is a controller"
                    ),
                );
            }
        }
        Ok(())
    }

    fn validate_quorum(&self) -> Result<(), ConfigError> {
        let voters = self.controller_quorum_voters();
        let node_id = self.node_id();
        let roles = self.process_roles();
        let is_voter = voters.iter().any(|v| v.id == node_id);
        let keys = vec!["process.roles", "controller.quorum.voters", "node.id"];
        if roles.contains(&ProcessRole::Controller) && !voters.is_empty() && !is_voter {
            return Err(ConfigError::Inconsistent {
                keys,
                reason: format!(
                    "this node is a controller, so its node.id {node_id} must be one of controller.quorum.voters"
                ),
            });
        }
        if roles == [ProcessRole::Broker] {
            if voters.is_empty() && self.controller_quorum_bootstrap_servers().is_empty() {
                return Err(ConfigError::Inconsistent {
                    keys,
                    reason: "a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers to find the controllers".into(),
                });
            }
            if is_voter {
                return Err(ConfigError::Inconsistent {
                    keys,
                    reason: format!("node.id {node_id} is a voter in controller.quorum.voters but process.roles is only broker; add controller to process.roles"),
                });
            }
        }
        Ok(())
    }

    /// Whether `key` has a value in any set layer (not only its default).
    pub(super) fn is_set(&self, key: &str) -> bool {
        [ConfigSource::DynamicBroker, ConfigSource::DynamicDefaultBroker, ConfigSource::StaticBroker]
            .into_iter()
            .any(|source| self.layer_value(key, source).is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{Listener, QuorumVoter, SecurityProtocol};
    use super::*;

    fn config(text: &str) -> BrokerConfig {
        match BrokerConfig::from_properties(text) {
            Ok(c) => c,
            Err(e) => panic!("config should be accepted: {e}"),
        }
    }

    fn error(text: &str) -> ConfigError {
        match BrokerConfig::from_properties(text) {
            Ok(_) => panic!("config should be rejected: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn zero_retention_is_rejected() {
        let e = error("log.retention.ms=0");
        assert!(e.to_string().contains("-1 (unlimited) or at least 1"), "{e}");
    }

    #[test]
    fn bad_listeners_are_rejected() {
        let mut c = BrokerConfig::new();
        for bad in [
            "127.0.0.1:9092",
            "PLAINTEXT://host",
            "PLAINTEXT://host:99999",
            "PLAINTEXT://a:1,PLAINTEXT://b:2",
            "://a:1",
        ] {
            assert!(
                matches!(c.set("listeners", bad), Err(ConfigError::InvalidValue { .. })),
                "{bad} should be rejected"
            );
        }
        // A listener name without a security protocol.
        assert!(matches!(error("listeners=EXTERNAL://:9092"), ConfigError::Inconsistent { .. }));
        // 0.0.0.0 may be bound but not advertised.
        let e = error("listeners=PLAINTEXT://0.0.0.0:9092");
        assert!(e.to_string().contains("0.0.0.0"), "{e}");
        assert!(
            config("listeners=PLAINTEXT://0.0.0.0:9092\nadvertised.listeners=PLAINTEXT://10.0.0.1:9092").listeners()[0]
                .host
                == "0.0.0.0"
        );
        // An advertised listener must be a listener.
        assert!(matches!(error("advertised.listeners=SSL://a:9093"), ConfigError::Inconsistent { .. }));
        // inter.broker.listener.name must be advertised.
        assert!(matches!(error("inter.broker.listener.name=SSL"), ConfigError::Inconsistent { .. }));
        assert!(matches!(
            error("inter.broker.listener.name=PLAINTEXT\nsecurity.inter.broker.protocol=PLAINTEXT"),
            ConfigError::Inconsistent { .. }
        ));
    }

    /// The Docker-style layout of Kafka's documentation: INTERNAL between brokers,
    /// EXTERNAL for the host's clients, CONTROLLER for the quorum.
    const INTERNAL_EXTERNAL: &str = "process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:39093
listeners=INTERNAL://:39092,EXTERNAL://:39094,CONTROLLER://:39093
advertised.listeners=INTERNAL://localhost:39092,EXTERNAL://127.0.0.1:39094
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
log.dirs=/tmp/x/data
";

    #[test]
    fn internal_and_external_listeners_are_accepted() {
        let c = config(INTERNAL_EXTERNAL);
        assert_eq!(c.listeners().len(), 3);
        assert_eq!(
            c.advertised_listeners(),
            vec![
                Listener { name: "INTERNAL".into(), host: "localhost".into(), port: 39092 },
                Listener { name: "EXTERNAL".into(), host: "127.0.0.1".into(), port: 39094 },
            ]
        );
        assert_eq!(c.inter_broker_listener_name(), "INTERNAL");
        assert_eq!(c.listener_security_protocol("EXTERNAL"), Some(SecurityProtocol::Plaintext));
        // Without inter.broker.listener.name the default is PLAINTEXT (from
        // security.inter.broker.protocol), which is not a listener here: Kafka refuses it.
        let e = error(&INTERNAL_EXTERNAL.replace("inter.broker.listener.name=INTERNAL\n", ""));
        assert!(e.to_string().contains("inter-broker listener PLAINTEXT"), "{e}");
        assert!(e.to_string().contains("EXTERNAL, INTERNAL"), "{e}");
        let e = error(&INTERNAL_EXTERNAL.replace("inter.broker.listener.name=INTERNAL", "inter.broker.listener.name=OTHER"));
        assert!(e.to_string().contains("set inter.broker.listener.name to one of them"), "{e}");
        // The inter-broker listener cannot be the controller's.
        assert!(matches!(
            error(&INTERNAL_EXTERNAL.replace("inter.broker.listener.name=INTERNAL", "inter.broker.listener.name=CONTROLLER")),
            ConfigError::Inconsistent { .. }
        ));
        // A controller-only node needs no inter-broker listener among its own.
        let controller_only = "process.roles=controller\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\ninter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\ncontroller.quorum.voters=1@localhost:9093";
        assert_eq!(config(controller_only).inter_broker_listener_name(), "PLAINTEXT");
    }

    #[test]
    fn client_listeners_may_use_tls_and_sasl() {
        // A SASL listener needs its users; SASL_SSL a key store too.
        let sasl_ssl = INTERNAL_EXTERNAL.replace("EXTERNAL:PLAINTEXT", "EXTERNAL:SASL_SSL");
        let jaas = format!("listener.name.external.plain.sasl.jaas.config={} required user_a=\"b\";", super::super::PLAIN_LOGIN_MODULE);
        assert!(error(&format!("{sasl_ssl}\n{jaas}")).to_string().contains("set ssl.keystore.location"));
        let e = error(&format!("{sasl_ssl}\nssl.keystore.location=k.pem"));
        assert!(e.to_string().contains("SASL listener EXTERNAL has no users"), "{e}");
        let c = config(&format!("{sasl_ssl}\nssl.keystore.location=k.pem\n{jaas}"));
        assert_eq!(c.listener_security_protocol("EXTERNAL"), Some(SecurityProtocol::SaslSsl));
        // An SSL client listener needs a key store, and then is fine.
        let ssl_external = INTERNAL_EXTERNAL.replace("EXTERNAL:PLAINTEXT", "EXTERNAL:SSL");
        let e = error(&ssl_external);
        assert!(e.to_string().contains("set ssl.keystore.location"), "{e}");
        let c = config(&format!("{ssl_external}\nssl.keystore.location=/etc/spool/broker.pem"));
        assert_eq!(c.listener_security_protocol("EXTERNAL"), Some(SecurityProtocol::Ssl));
        // Brokers and controllers talk PLAINTEXT among themselves.
        let e = error("listeners=SSL://:9093\nadvertised.listeners=SSL://a:9093\ninter.broker.listener.name=SSL\nssl.keystore.location=k.pem");
        assert!(e.to_string().contains("the inter-broker listener SSL uses SSL"), "{e}");
        let e = error(&format!(
            "{}\nssl.keystore.location=k.pem",
            INTERNAL_EXTERNAL.replace("CONTROLLER:PLAINTEXT", "CONTROLLER:SSL")
        ));
        assert!(e.to_string().contains("controller listener CONTROLLER uses SSL"), "{e}");
        // Map entries for listeners that do not exist are fine (Kafka's sample lists all four).
        assert!(config("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL").validate().is_ok());
    }

    #[test]
    fn listeners_need_their_own_ports_and_names() {
        let e = error(&INTERNAL_EXTERNAL.replace("EXTERNAL://:39094", "EXTERNAL://:39092"));
        assert!(e.to_string().contains("each listener needs its own port"), "{e}");
        // Advertised listeners may share a port (a proxy in front), as in Kafka.
        let shared = INTERNAL_EXTERNAL.replace("EXTERNAL://127.0.0.1:39094", "EXTERNAL://proxy:39092");
        assert_eq!(config(&shared).advertised_listeners()[1].port, 39092);
        let e = error(&INTERNAL_EXTERNAL.replace("EXTERNAL://127.0.0.1:39094", "OUTSIDE://127.0.0.1:39094"));
        assert!(e.to_string().contains("advertised listener OUTSIDE is not one of the listeners"), "{e}");
        let e = error(&INTERNAL_EXTERNAL.replace("EXTERNAL:PLAINTEXT", "OTHER:PLAINTEXT"));
        assert!(e.to_string().contains("add EXTERNAL:PLAINTEXT to listener.security.protocol.map"), "{e}");
    }

    #[test]
    fn controller_listener_is_not_advertised_and_defaults_to_plaintext() {
        let c = config("listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\ncontroller.listener.names=CONTROLLER\ncontroller.quorum.voters=1@127.0.0.1:9093");
        assert_eq!(c.listeners().len(), 2);
        assert_eq!(
            c.advertised_listeners(),
            vec![Listener { name: "PLAINTEXT".into(), host: "127.0.0.1".into(), port: 9092 }]
        );
        assert_eq!(c.controller_quorum_voters(), vec![QuorumVoter { id: 1, host: "127.0.0.1".into(), port: 9093 }]);
        // A controller listener must be one of the listeners.
        assert!(matches!(error("controller.listener.names=CONTROLLER"), ConfigError::Inconsistent { .. }));
    }

    #[test]
    fn quorum_voters_and_roles_are_checked() {
        let mut c = BrokerConfig::new();
        for bad in ["1@host", "x@host:9093", "1@:9093", "1@h:1,1@h:2", "host:9093", "1@a@b:1"] {
            assert!(matches!(c.set("controller.quorum.voters", bad), Err(ConfigError::InvalidValue { .. })), "{bad}");
        }
        let three = "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093";
        assert_eq!(config(&format!("node.id=2\n{three}")).controller_quorum_voters().len(), 3);
        // A controller must be a voter.
        assert!(matches!(error(&format!("node.id=4\n{three}")), ConfigError::Inconsistent { .. }));
        // A broker-only node must not be a voter and must know the voters.
        assert!(
            config(&format!("node.id=4\nprocess.roles=broker\n{three}")).process_roles() == vec![ProcessRole::Broker]
        );
        assert!(matches!(
            error(&format!("node.id=1\nprocess.roles=broker\n{three}")),
            ConfigError::Inconsistent { .. }
        ));
        assert!(matches!(error("process.roles=broker"), ConfigError::Inconsistent { .. }));
        assert!(matches!(error("process.roles="), ConfigError::Inconsistent { .. }));
        assert!(matches!(error("process.roles=broker,broker"), ConfigError::Inconsistent { .. }));
        assert_eq!(config("process.roles=controller").process_roles(), vec![ProcessRole::Controller]);
    }

    #[test]
    fn cross_checks_of_replication_and_queues() {
        assert!(matches!(error("replica.fetch.wait.max.ms=40000"), ConfigError::Inconsistent { .. }));
        assert!(matches!(error("replica.lag.time.max.ms=100"), ConfigError::Inconsistent { .. }));
        assert!(matches!(error("queued.max.request.bytes=1000"), ConfigError::Inconsistent { .. }));
        assert!(config("queued.max.request.bytes=104857600").validate().is_ok());
        assert!(matches!(error("log.cleaner.dedupe.buffer.size=1000"), ConfigError::Inconsistent { .. }));
        assert!(matches!(
            error("log.cleaner.min.compaction.lag.ms=10\nlog.cleaner.max.compaction.lag.ms=5"),
            ConfigError::Inconsistent { .. }
        ));
    }

    #[test]
    fn kafka_sample_kraft_server_properties_is_accepted() {
        // The settings of Kafka 3.9's config/kraft/server.properties.
        let text = r"
############################# Server Basics #############################
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
";
        let c = config(text);
        assert_eq!(c.log_dirs(), vec![PathBuf::from("/tmp/kraft-combined-logs")]);
        assert_eq!(c.offsets_topic_replication_factor(), 1);
        assert_eq!(
            c.advertised_listeners(),
            vec![Listener { name: "PLAINTEXT".into(), host: "localhost".into(), port: 9092 }]
        );
        assert!(c.notes().is_empty());
    }
}
