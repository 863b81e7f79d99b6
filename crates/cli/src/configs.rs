//! `spool configs` / `kafka-configs`: describe and alter the configs of topics and
//! brokers, and the quotas of clients and users.
//!
//! ```text
//! kafka-configs --bootstrap-server H:P --entity-type topics --entity-name T --alter --add-config retention.ms=86400000
//! kafka-configs --bootstrap-server H:P --topic T --describe [--all]
//! Dynamic configs for topic T are:
//!   retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000, DEFAULT_CONFIG:log.retention.hours=168}
//! Completed updating config for topic T.
//! kafka-configs --bootstrap-server H:P --entity-type clients --entity-name app --alter --add-config producer_byte_rate=1048576
//! kafka-configs --bootstrap-server H:P --entity-type clients --describe
//! Quota configs for client-id 'app' are producer_byte_rate=1048576.0
//! ```
//!
//! Flags, output and messages follow Kafka 3.9's `kafka-configs.sh`. Configs are changed
//! with IncrementalAlterConfigs (set and delete), as Kafka's tool does. Of a broker's
//! configs (one broker's, `--entity-name ID`, or every broker's default,
//! `--entity-default`), the broker defaults of topic configs and the replication
//! throttle rates change at runtime; an alter of another is refused by the broker with
//! its reason (it is set in `server.properties` or with `--set`). Quotas of clients and
//! users (`--entity-type clients|users`, both for a user's client id; or `--client`,
//! `--user`, `--client-defaults`, `--user-defaults`) go through DescribeClientQuotas and
//! AlterClientQuotas. A broker's log levels (`--entity-type broker-loggers --entity-name
//! ID`, loggers being tracing targets) are asked of and changed on that broker. IPs and
//! SCRAM credentials do not exist in Spool and are refused.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Parser};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::DescribeConfigsRequest;
use kafka_protocol::protocol::StrBytes;

use crate::admin::{AdminClient, AdminTimeouts, ConfigChanges, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use crate::connection_args::{load_properties, read_command_config, BootstrapArgs};
use crate::kafka_error;

/// Add/Remove entity config for a topic or broker.
#[derive(Parser, Debug)]
#[command(name = "kafka-configs", version, about = "Add/Remove entity config for a topic, client, user or broker")]
#[command(group(ArgGroup::new("action").required(true).args(["describe", "alter"])))]
pub(crate) struct ConfigsArgs {
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// List configs for the given entity
    #[arg(long)]
    describe: bool,
    /// Alter the configuration for the entity
    #[arg(long)]
    alter: bool,
    /// With --describe: list all configs, static and default ones included
    #[arg(long)]
    all: bool,
    /// Type of entity: topics, brokers, clients or users (users and clients together: a
    /// user's client id)
    #[arg(long = "entity-type", value_name = "TYPE")]
    entity_type: Vec<String>,
    /// Name of entity: topic name, broker id, client id or user name (one per --entity-type)
    #[arg(long = "entity-name", value_name = "NAME")]
    entity_name: Vec<String>,
    /// The default entity: every broker, client id or user without configs of its own
    #[arg(long = "entity-default")]
    entity_default: bool,
    /// The topic's name (as --entity-type topics --entity-name TOPIC)
    #[arg(long, value_name = "TOPIC", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "broker", "broker_defaults"])]
    topic: Option<String>,
    /// A client id (as --entity-type clients --entity-name ID)
    #[arg(long, value_name = "CLIENT-ID", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults", "client_defaults"])]
    client: Option<String>,
    /// The default client id (as --entity-type clients --entity-default)
    #[arg(long = "client-defaults", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults"])]
    client_defaults: bool,
    /// A user (as --entity-type users --entity-name USER); Spool's clients are all user ANONYMOUS
    #[arg(long, value_name = "USER", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults", "user_defaults"])]
    user: Option<String>,
    /// The default user (as --entity-type users --entity-default)
    #[arg(long = "user-defaults", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults"])]
    user_defaults: bool,
    /// The broker's id (as --entity-type brokers --entity-name ID)
    #[arg(long, value_name = "ID", conflicts_with_all = ["entity_type", "entity_name", "entity_default", "broker_defaults"])]
    broker: Option<String>,
    /// The config defaults for all brokers (as --entity-type brokers --entity-default)
    #[arg(long = "broker-defaults", conflicts_with_all = ["entity_type", "entity_name", "entity_default"])]
    broker_defaults: bool,
    /// Configs to add, 'k1=v1,k2=[v1,v2],k3=v3' (square brackets group values with commas)
    #[arg(long = "add-config", value_name = "K=V,...")]
    add_config: Option<String>,
    /// A properties file of configs to add
    #[arg(long = "add-config-file", value_name = "FILE")]
    add_config_file: Option<PathBuf>,
    /// Config keys to remove, 'k1,k2' (repeatable)
    #[arg(long = "delete-config", value_name = "K,...", value_delimiter = ',')]
    delete_config: Vec<String>,
    /// Accepted for compatibility (nothing is prompted)
    #[arg(long)]
    force: bool,
    /// Admin client properties (read, then ignored: they configure security, which Spool does not have)
    #[arg(long = "command-config", value_name = "FILE")]
    command_config: Option<PathBuf>,
}

/// What the command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entity {
    /// A topic, or every topic (`--describe` without a name).
    Topics(Option<String>),
    /// A broker by id, the cluster default (`Some("")`), or every broker and the
    /// default (`--describe` without a name).
    Brokers(Option<String>),
    /// One broker's log levels, or every broker's (`--describe` without a name).
    BrokerLoggers(Option<String>),
    /// Quotas of clients, users, or a user's client ids: per part in the order given,
    /// its type (`users`, `clients`) and a name (`Some(Some(name))`), the default
    /// (`Some(None)`) or every one (`None`, `--describe` only).
    Quotas(Vec<(&'static str, Option<Option<String>>)>),
}

impl ConfigsArgs {
    /// The entity the flags name, with Kafka's option checks.
    fn entity(&self) -> Result<Entity, String> {
        if self.all && !self.describe {
            return Err("--all can only be used with --describe".into());
        }
        let changes = self.add_config.is_some() || self.add_config_file.is_some() || !self.delete_config.is_empty();
        if self.describe && changes {
            return Err("--add-config, --add-config-file and --delete-config can only be used with --alter".into());
        }
        if self.alter && !changes {
            return Err("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter".into());
        }
        let quota_flags = [(USERS, self.user.as_ref(), self.user_defaults), (CLIENTS, self.client.as_ref(), self.client_defaults)];
        let entity = if let Some(topic) = &self.topic {
            Entity::Topics(Some(topic.clone()))
        } else if let Some(broker) = &self.broker {
            Entity::Brokers(Some(broker.clone()))
        } else if self.broker_defaults {
            Entity::Brokers(Some(String::new()))
        } else if quota_flags.iter().any(|(_, name, default)| name.is_some() || *default) {
            Entity::Quotas(
                quota_flags
                    .into_iter()
                    .filter(|(_, name, default)| name.is_some() || *default)
                    .map(|(kind, name, _)| (kind, Some(name.cloned())))
                    .collect(),
            )
        } else {
            let types: Vec<&str> = self.entity_type.iter().map(String::as_str).collect();
            let name = if self.entity_default { Some(String::new()) } else { self.entity_name.first().cloned() };
            match types.as_slice() {
                [] => return Err("--entity-type must be specified (or --topic, --broker, --broker-defaults, --client, --user)".into()),
                [_, _] => return two_quota_parts(&types, &self.entity_name, self.entity_default),
                [_, _, _, ..] => return Err("At most two entity types (users and clients) can be given".into()),
                [_] if self.entity_name.len() > 1 => return Err("Only one --entity-name per --entity-type".into()),
                [_] if self.entity_default && !self.entity_name.is_empty() => {
                    return Err("--entity-name and --entity-default cannot both name the entity".into())
                }
                ["topics"] if self.entity_default => return Err("--entity-default is not valid for topics".into()),
                ["topics"] => Entity::Topics(name),
                ["brokers"] => Entity::Brokers(name),
                ["broker-loggers"] if self.entity_default => return Err("--entity-default is not valid for broker-loggers".into()),
                ["broker-loggers"] => Entity::BrokerLoggers(name),
                [kind @ (USERS | CLIENTS)] => {
                    let kind = if *kind == USERS { USERS } else { CLIENTS };
                    let part = if self.entity_default { Some(None) } else { self.entity_name.first().map(|n| Some(n.clone())) };
                    Entity::Quotas(vec![(kind, part)])
                }
                [other @ ("ips" | "client-metrics" | "groups")] => {
                    return Err(format!(
                        "entity type {other} is not supported by Spool (it has topic, broker, broker-logger, client and user configs)"
                    ))
                }
                [other] => {
                    return Err(format!(
                        "Invalid entity type {other}, the entity type must be one of topics, brokers, broker-loggers, clients, users"
                    ))
                }
            }
        };
        if self.alter {
            if let Entity::Quotas(parts) = &entity {
                if parts.iter().any(|(_, name)| name.is_none()) {
                    return Err("An entity name must be specified with --alter".into());
                }
            }
        }
        if self.alter && matches!(&entity, Entity::Topics(None) | Entity::Brokers(None) | Entity::BrokerLoggers(None)) {
            return Err("An entity name must be specified with --alter".into());
        }
        if let Entity::Brokers(Some(id)) | Entity::BrokerLoggers(Some(id)) = &entity {
            if !id.is_empty() && id.parse::<i32>().is_err() {
                return Err(format!("The entity name for brokers must be a valid integer broker id, found: {id}"));
            }
        }
        Ok(entity)
    }
}

/// `--entity-type` values of quotas.
const USERS: &str = "users";
const CLIENTS: &str = "clients";

/// A user's client id, named by two `--entity-type`s and their `--entity-name`s in order.
fn two_quota_parts(types: &[&str], names: &[String], entity_default: bool) -> Result<Entity, String> {
    let mut kinds = Vec::with_capacity(2);
    for kind in types {
        match *kind {
            USERS if !kinds.contains(&USERS) => kinds.push(USERS),
            CLIENTS if !kinds.contains(&CLIENTS) => kinds.push(CLIENTS),
            _ => return Err("Two entity types must be users and clients (a user's client id)".into()),
        }
    }
    if entity_default {
        return Err("With two entity types, name defaults with --user-defaults / --client-defaults".into());
    }
    let parts = match names {
        [] => kinds.into_iter().map(|kind| (kind, None)).collect(),
        [first, second] => kinds.into_iter().zip([first, second]).map(|(kind, name)| (kind, Some(Some(name.clone())))).collect(),
        _ => return Err("With two entity types, give an --entity-name for each (or none, to describe)".into()),
    };
    Ok(Entity::Quotas(parts))
}

/// Runs the command; returns the process exit code.
pub(crate) fn run(args: ConfigsArgs) -> i32 {
    let entity = match args.entity() {
        Ok(entity) => entity,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!("\nFor more information, try '--help'.");
            return 2;
        }
    };
    match execute(&args, &entity) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error while executing config command: {e:#}");
            1
        }
    }
}

fn execute(args: &ConfigsArgs, entity: &Entity) -> Result<()> {
    let security = read_command_config(args.command_config.as_deref())?;
    let bootstrap = args.bootstrap.resolve(false)?;
    let mut client = AdminClient::connect(&bootstrap, AdminTimeouts::default(), &security)?;
    if let Entity::Quotas(parts) = entity {
        return if args.describe {
            describe_quotas(&mut client, parts)
        } else {
            alter_quotas(&mut client, parts, &configs_to_add(args)?, &args.delete_config)
        };
    }
    if args.describe {
        describe(&mut client, entity, args.all)
    } else {
        let added = configs_to_add(args)?;
        alter(&mut client, entity, &added, &args.delete_config)
    }
}

/// `--add-config-file`, then `--add-config` over it.
fn configs_to_add(args: &ConfigsArgs) -> Result<Vec<(String, String)>> {
    let mut configs = match &args.add_config_file {
        Some(path) => load_properties(path)?,
        None => Vec::new(),
    };
    if let Some(list) = &args.add_config {
        for (key, value) in parse_add_config(list).map_err(|e| anyhow!(e))? {
            configs.retain(|(k, _)| *k != key);
            configs.push((key, value));
        }
    }
    // Loggers are tracing targets, module paths with `::`.
    let loggers = args.entity_type.iter().any(|t| t == "broker-loggers");
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || (loggers && c == ':');
    if let Some((key, _)) = configs.iter().find(|(k, _)| !k.chars().all(valid)) {
        bail!("Invalid character found for config key: {key}");
    }
    Ok(configs)
}

/// Kafka's `--add-config` syntax: `k1=v1,k2=[a,b]` splits at the commas outside square
/// brackets; the brackets themselves are dropped from the values.
fn parse_add_config(list: &str) -> Result<Vec<(String, String)>, String> {
    let invalid = || "Invalid entity config: all configs to be added must be in the format \"key=val\".".to_string();
    let mut pairs = Vec::new();
    for item in split_outside_brackets(list, ',') {
        let parts = split_outside_brackets(&item, '=');
        let [key, value] = parts.as_slice() else { return Err(invalid()) };
        let key = key.trim();
        if key.is_empty() {
            return Err(invalid());
        }
        pairs.push((key.to_string(), value.replace(['[', ']'], "").trim().to_string()));
    }
    Ok(pairs)
}

fn split_outside_brackets(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("never empty").push(c);
    }
    parts
}

/// Kafka's `ConfigEntry.ConfigSource` name of a protocol config source.
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "DYNAMIC_CLIENT_METRICS_CONFIG",
        8 => "DYNAMIC_GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// The config source that `--describe` without `--all` shows for a resource: its own
/// dynamic configs (a topic's, a broker's, or the cluster default's for the broker
/// named "").
fn dynamic_source(resource_type: i8, name: &str) -> i8 {
    match resource_type {
        RESOURCE_TOPIC => 1,
        _ if name.is_empty() => 3,
        _ => 2,
    }
}

/// The configs of one resource, sorted by name; only those from `source` unless it is
/// `None`. A broker's configs are asked of that broker.
fn resource_configs(
    client: &mut AdminClient,
    resource_type: i8,
    name: &str,
    source: Option<i8>,
    synonyms: bool,
) -> Result<Vec<DescribeConfigsResourceResult>> {
    let mut target = broker_client(client, resource_type, name)?;
    let client = target.as_mut().unwrap_or(client);
    let resource = DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_string(name.to_string()))
        .with_configuration_keys(None);
    let request = DescribeConfigsRequest::default().with_resources(vec![resource]).with_include_synonyms(synonyms);
    let (response, _) = client.call(&request, 4)?;
    let Some(result) = response.results.into_iter().next() else { bail!("the broker sent no configs for {name}") };
    if result.error_code != 0 {
        bail!("{}", kafka_error::describe(result.error_code, result.error_message.as_deref()));
    }
    let mut configs: Vec<_> = result.configs.into_iter().filter(|c| source.is_none_or(|s| c.config_source == s)).collect();
    configs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    Ok(configs)
}

/// A connection to the broker a resource names (one broker's configs or log levels are
/// asked of that broker); `None` for a resource any broker answers for.
fn broker_client(client: &mut AdminClient, resource_type: i8, name: &str) -> Result<Option<AdminClient>> {
    if !matches!(resource_type, RESOURCE_BROKER | RESOURCE_BROKER_LOGGER) || name.is_empty() {
        return Ok(None);
    }
    let (metadata, _) = client.metadata()?;
    let id: i32 = name.parse().with_context(|| format!("broker id {name}"))?;
    let broker = metadata.brokers.iter().find(|b| b.node_id.0 == id).ok_or_else(|| anyhow!("broker {id} is not in the cluster"))?;
    Ok(Some(client.connect_to(broker.host.as_str(), broker.port)?))
}

fn describe(client: &mut AdminClient, entity: &Entity, all: bool) -> Result<()> {
    let mut out = String::new();
    let (resource_type, kind, names) = match entity {
        Entity::Topics(Some(name)) => (RESOURCE_TOPIC, "topic", vec![name.clone()]),
        Entity::Topics(None) => {
            let (metadata, _) = client.metadata()?;
            let mut names: Vec<String> = metadata.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
            names.sort();
            (RESOURCE_TOPIC, "topic", names)
        }
        Entity::Brokers(Some(name)) => (RESOURCE_BROKER, "broker", vec![name.clone()]),
        Entity::Quotas(_) => bail!("quotas are described by describe_quotas"),
        Entity::BrokerLoggers(Some(name)) => (RESOURCE_BROKER_LOGGER, "broker-logger", vec![name.clone()]),
        Entity::BrokerLoggers(None) => {
            let (metadata, _) = client.metadata()?;
            let mut ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
            ids.sort_unstable();
            (RESOURCE_BROKER_LOGGER, "broker-logger", ids.iter().map(i32::to_string).collect())
        }
        Entity::Brokers(None) => {
            let (metadata, _) = client.metadata()?;
            let mut ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id.0).collect();
            ids.sort_unstable();
            let mut names: Vec<String> = ids.iter().map(i32::to_string).collect();
            names.push(String::new());
            (RESOURCE_BROKER, "broker", names)
        }
    };
    for name in names {
        // Every log level is dynamic: none is left out (Kafka's tool filters none).
        let source = (!all && resource_type != RESOURCE_BROKER_LOGGER).then(|| dynamic_source(resource_type, &name));
        let configs = resource_configs(client, resource_type, &name, source, true)?;
        if name.is_empty() {
            out.push_str("Default configs for brokers in the cluster are:\n");
        } else {
            out.push_str(&format!("{} configs for {kind} {name} are:\n", if all { "All" } else { "Dynamic" }));
        }
        for config in configs {
            let synonyms: Vec<String> = config
                .synonyms
                .iter()
                .map(|s| format!("{}:{}={}", source_name(s.source), s.name.as_str(), s.value.as_deref().unwrap_or("null")))
                .collect();
            out.push_str(&format!(
                "  {}={} sensitive={} synonyms={{{}}}\n",
                config.name.as_str(),
                config.value.as_deref().unwrap_or("null"),
                config.is_sensitive,
                synonyms.join(", ")
            ));
        }
    }
    print!("{out}");
    Ok(())
}

fn alter(client: &mut AdminClient, entity: &Entity, added: &[(String, String)], deleted: &[String]) -> Result<()> {
    let (resource_type, name) = match entity {
        Entity::Topics(Some(name)) => (RESOURCE_TOPIC, name.as_str()),
        Entity::Brokers(Some(name)) => (RESOURCE_BROKER, name.as_str()),
        Entity::BrokerLoggers(Some(name)) => (RESOURCE_BROKER_LOGGER, name.as_str()),
        Entity::Topics(None) | Entity::Brokers(None) | Entity::BrokerLoggers(None) => {
            bail!("An entity name must be specified with --alter")
        }
        Entity::Quotas(_) => bail!("quotas are altered by alter_quotas"),
    };
    // As Kafka: deleting a config that is not set is an error, and nothing changes.
    if !deleted.is_empty() {
        let source = (resource_type != RESOURCE_BROKER_LOGGER).then(|| dynamic_source(resource_type, name));
        let set = resource_configs(client, resource_type, name, source, false)?;
        let invalid: Vec<&str> =
            deleted.iter().map(|k| k.trim()).filter(|k| !set.iter().any(|c| c.name.as_str() == *k)).collect();
        if !invalid.is_empty() {
            bail!("Invalid config(s): {}", invalid.join(","));
        }
    }
    let changes = ConfigChanges {
        resource_type,
        name: name.to_string(),
        changes: added.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).chain(deleted.iter().map(|k| (k.clone(), None))).collect(),
    };
    // A broker's log levels are its own: the request goes to that broker.
    let mut target = if resource_type == RESOURCE_BROKER_LOGGER { broker_client(client, resource_type, name)? } else { None };
    if let Some((_, reason)) = target.as_mut().unwrap_or(client).alter_configs(&[changes])?.first() {
        bail!("{reason}");
    }
    match entity {
        Entity::Brokers(Some(name)) if name.is_empty() => println!("Completed updating default config for brokers in the cluster."),
        Entity::Brokers(_) => println!("Completed updating config for broker {name}."),
        Entity::Topics(_) => println!("Completed updating config for topic {name}."),
        Entity::BrokerLoggers(_) => println!("Completed updating config for broker-logger {name}."),
        Entity::Quotas(_) => {}
    }
    Ok(())
}

/// The protocol's entity type of a `--entity-type` of quotas.
fn quota_entity_type(kind: &str) -> &'static str {
    if kind == USERS { "user" } else { "client-id" }
}

/// Kafka's line per entity: `Quota configs for user-principal 'u', client-id 'c' are k=v, ...`.
fn describe_quotas(client: &mut AdminClient, parts: &[(&'static str, Option<Option<String>>)]) -> Result<()> {
    let components: Vec<(&str, Option<Option<String>>)> =
        parts.iter().map(|(kind, name)| (quota_entity_type(kind), name.clone())).collect();
    for entry in client.describe_client_quotas(&components, true)? {
        let mut entity = entry.entity.clone();
        // User first, as Kafka prints them.
        entity.sort_by_key(|(entity_type, _)| entity_type != "user");
        let names: Vec<String> = entity
            .iter()
            .map(|(entity_type, name)| {
                let kind = if entity_type == "user" { "user-principal" } else { entity_type.as_str() };
                match name {
                    Some(name) => format!("{kind} '{name}'"),
                    None => format!("the default {kind}"),
                }
            })
            .collect();
        let values: Vec<String> = entry.values.iter().map(|(key, value)| format!("{key}={value:?}")).collect();
        println!("Quota configs for {} are {}", names.join(", "), values.join(", "));
    }
    Ok(())
}

fn alter_quotas(
    client: &mut AdminClient,
    parts: &[(&'static str, Option<Option<String>>)],
    added: &[(String, String)],
    deleted: &[String],
) -> Result<()> {
    let entity: Vec<(String, Option<String>)> =
        parts.iter().map(|(kind, name)| (quota_entity_type(kind).to_string(), name.clone().flatten())).collect();
    let mut changes = Vec::with_capacity(added.len() + deleted.len());
    for (key, value) in added {
        let rate: f64 = value
            .trim()
            .parse()
            .map_err(|_| anyhow!("Invalid value {value} for quota {key}: a number of bytes per second is expected"))?;
        changes.push((key.trim().to_string(), Some(rate)));
    }
    // As Kafka: deleting a quota that is not set is an error, and nothing changes.
    if !deleted.is_empty() {
        let components: Vec<(&str, Option<Option<String>>)> =
            entity.iter().map(|(entity_type, name)| (entity_type.as_str(), Some(name.clone()))).collect();
        let current = client.describe_client_quotas(&components, true)?;
        let set: Vec<&str> = current.iter().flat_map(|e| e.values.iter().map(|(k, _)| k.as_str())).collect();
        let invalid: Vec<&str> = deleted.iter().map(|k| k.trim()).filter(|k| !set.contains(k)).collect();
        if !invalid.is_empty() {
            bail!("Invalid config(s): {}", invalid.join(","));
        }
        changes.extend(deleted.iter().map(|k| (k.trim().to_string(), None)));
    }
    if let Some(reason) = client.alter_client_quotas(&entity, &changes)? {
        bail!("{reason}");
    }
    let (head, name) = &parts[0];
    match name {
        Some(Some(name)) => println!("Completed updating config for {} {name}.", head.trim_end_matches('s')),
        _ => println!("Completed updating default config for {head} in the cluster."),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Entity, String> {
        let mut full = vec!["kafka-configs", "--bootstrap-server", "h:1"];
        full.extend_from_slice(argv);
        ConfigsArgs::try_parse_from(full).map_err(|e| e.to_string())?.entity()
    }

    #[test]
    fn entities_are_named_as_in_kafka() {
        let topic = Entity::Topics(Some("t".into()));
        assert_eq!(parse(&["--describe", "--entity-type", "topics", "--entity-name", "t"]), Ok(topic.clone()));
        assert_eq!(parse(&["--describe", "--topic", "t"]), Ok(topic));
        assert_eq!(parse(&["--describe", "--entity-type", "topics"]), Ok(Entity::Topics(None)));
        assert_eq!(parse(&["--describe", "--broker", "2", "--all"]), Ok(Entity::Brokers(Some("2".into()))));
        assert_eq!(parse(&["--describe", "--entity-type", "brokers", "--entity-default"]), Ok(Entity::Brokers(Some(String::new()))));
        assert_eq!(parse(&["--describe", "--broker-defaults"]), Ok(Entity::Brokers(Some(String::new()))));
        assert_eq!(
            parse(&["--describe", "--entity-type", "broker-loggers", "--entity-name", "1"]),
            Ok(Entity::BrokerLoggers(Some("1".into())))
        );
        assert_eq!(parse(&["--describe", "--entity-type", "broker-loggers"]), Ok(Entity::BrokerLoggers(None)));
        let app = Entity::Quotas(vec![(CLIENTS, Some(Some("app".into())))]);
        assert_eq!(parse(&["--describe", "--entity-type", "clients", "--entity-name", "app"]), Ok(app.clone()));
        assert_eq!(parse(&["--describe", "--client", "app"]), Ok(app));
        assert_eq!(parse(&["--describe", "--entity-type", "clients"]), Ok(Entity::Quotas(vec![(CLIENTS, None)])));
        assert_eq!(parse(&["--describe", "--entity-type", "users", "--entity-default"]), Ok(Entity::Quotas(vec![(USERS, Some(None))])));
        let user_client = Entity::Quotas(vec![(USERS, Some(Some("u".into()))), (CLIENTS, Some(Some("c".into())))]);
        let two = ["--describe", "--entity-type", "users", "--entity-type", "clients", "--entity-name", "u", "--entity-name", "c"];
        assert_eq!(parse(&two), Ok(user_client.clone()));
        assert_eq!(parse(&["--describe", "--user", "u", "--client", "c"]), Ok(user_client));
        assert_eq!(
            parse(&["--describe", "--user", "u", "--client-defaults"]),
            Ok(Entity::Quotas(vec![(USERS, Some(Some("u".into()))), (CLIENTS, Some(None))]))
        );
    }

    #[test]
    fn bad_combinations_are_refused() {
        assert!(parse(&["--describe", "--alter", "--topic", "t"]).is_err(), "one action");
        assert!(parse(&["--topic", "t"]).is_err(), "an action is required");
        assert!(parse(&["--describe"]).unwrap_err().contains("--entity-type must be specified"));
        assert!(parse(&["--alter", "--topic", "t"]).unwrap_err().contains("At least one of --add-config"));
        assert!(parse(&["--alter", "--entity-type", "topics", "--add-config", "a=b"]).unwrap_err().contains("entity name"));
        assert!(parse(&["--describe", "--topic", "t", "--add-config", "a=b"]).is_err());
        assert!(parse(&["--alter", "--topic", "t", "--add-config", "a=b", "--all"]).is_err());
        assert!(parse(&["--describe", "--entity-type", "ips"]).unwrap_err().contains("not supported by Spool"));
        assert!(parse(&["--describe", "--entity-type", "broker-loggers", "--entity-default"]).is_err());
        assert!(parse(&["--describe", "--entity-type", "broker-loggers", "--entity-name", "x"]).unwrap_err().contains("integer"));
        assert!(parse(&["--alter", "--entity-type", "broker-loggers", "--add-config", "a=INFO"]).unwrap_err().contains("entity name"));
        assert!(parse(&["--alter", "--entity-type", "clients", "--add-config", "a=1"]).unwrap_err().contains("entity name"));
        assert!(parse(&["--describe", "--entity-type", "users", "--entity-type", "topics"]).unwrap_err().contains("users and clients"));
        assert!(parse(&["--describe", "--entity-type", "users", "--entity-type", "clients", "--entity-default"]).is_err());
        assert!(parse(&["--describe", "--entity-type", "clients", "--entity-name", "a", "--entity-default"]).is_err());
        assert!(parse(&["--describe", "--client", "a", "--topic", "t"]).is_err());
        assert!(parse(&["--describe", "--entity-type", "tables"]).unwrap_err().contains("Invalid entity type"));
        assert!(parse(&["--describe", "--broker", "one"]).unwrap_err().contains("valid integer broker id"));
        assert!(parse(&["--describe", "--topic", "t", "--broker", "1"]).is_err());
    }

    #[test]
    fn add_config_lists_split_as_kafka_does() {
        let pairs = parse_add_config("retention.ms=1000, cleanup.policy=[compact,delete],k = v").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".to_string(), "compact,delete".to_string()),
                ("k".to_string(), "v".to_string()),
            ]
        );
        assert_eq!(parse_add_config("empty=").unwrap(), vec![("empty".to_string(), String::new())]);
        assert!(parse_add_config("novalue").unwrap_err().contains("key=val"));
        assert!(parse_add_config("a=b=c").is_err());
    }

    #[test]
    fn config_sources_print_with_kafkas_names() {
        assert_eq!(source_name(1), "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(source_name(4), "STATIC_BROKER_CONFIG");
        assert_eq!(source_name(5), "DEFAULT_CONFIG");
        assert_eq!(source_name(42), "UNKNOWN");
    }
}
