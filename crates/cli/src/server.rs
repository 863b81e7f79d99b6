//! `spool server`: one process that is controller and broker.
//!
//! The configuration is built in Kafka's order of precedence, later wins:
//! `--config FILE` (server.properties), each `--set KEY=VALUE` in order, then
//! `--data-dir` (`log.dirs`), `--listen HOST:PORT` (`listeners=PLAINTEXT://HOST:PORT`) and the
//! cluster flags (`--node-id`, `--controller-listen`, `--controller-quorum-voters`,
//! `--process-roles`, `--advertised-listen`), each the Kafka key it names.
//! The result is validated once; a bad config is one `error: ...` line and exit code 2.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use spool_metadata::config::BrokerConfig;

use crate::connection_args::parse_key_value;

/// Exit code for a configuration the broker refuses.
const EXIT_CONFIG_ERROR: i32 = 2;

/// Flags of `spool server`.
#[derive(Args, Debug)]
pub(crate) struct ServerArgs {
    /// Where partitions and metadata are stored (log.dirs) [default: ./spool-data]
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The Kafka listener, HOST:PORT (listeners=PLAINTEXT://HOST:PORT) [default: 127.0.0.1:9092]
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// A Kafka server.properties file
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set one config, e.g. --set num.partitions=3 (repeatable; applied after --config)
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    set: Vec<(String, String)>,
    /// This node's id in the cluster (node.id) [default: 1]
    #[arg(long = "node-id", value_name = "N")]
    node_id: Option<i32>,
    /// The controller (metadata quorum) listener, HOST:PORT (adds CONTROLLER://HOST:PORT to
    /// listeners and sets controller.listener.names=CONTROLLER)
    #[arg(long = "controller-listen", value_name = "HOST:PORT")]
    controller_listen: Option<String>,
    /// The metadata quorum's voters, ID@HOST:PORT,... (controller.quorum.voters)
    #[arg(long = "controller-quorum-voters", value_name = "ID@HOST:PORT,...")]
    controller_quorum_voters: Option<String>,
    /// broker, controller, or broker,controller (process.roles) [default: broker,controller]
    #[arg(long = "process-roles", value_name = "ROLES")]
    process_roles: Option<String>,
    /// The address clients are told to use, HOST:PORT (advertised.listeners) [default: --listen]
    #[arg(long = "advertised-listen", value_name = "HOST:PORT")]
    advertised_listen: Option<String>,
}

/// Builds the broker configuration from the flags.
///
/// # Errors
/// The config error, as the line to print.
fn build_config(args: &ServerArgs) -> Result<BrokerConfig, String> {
    let mut config = BrokerConfig::new();
    if let Some(path) = &args.config {
        config.apply_file(path).map_err(|e| e.to_string())?;
    }
    for (key, value) in &args.set {
        config.set(key, value).map_err(|e| format!("--set {key}={value}: {e}"))?;
    }
    if let Some(dir) = &args.data_dir {
        let dir = dir.to_str().ok_or_else(|| format!("--data-dir {}: not valid UTF-8", dir.display()))?;
        config.set("log.dirs", dir).map_err(|e| format!("--data-dir: {e}"))?;
    }
    if let Some(listen) = &args.listen {
        config.set("listeners", &format!("PLAINTEXT://{listen}")).map_err(|e| format!("--listen: {e}"))?;
    }
    if let Some(node_id) = args.node_id {
        config.set("node.id", &node_id.to_string()).map_err(|e| format!("--node-id: {e}"))?;
    }
    if let Some(roles) = &args.process_roles {
        config.set("process.roles", roles).map_err(|e| format!("--process-roles: {e}"))?;
    }
    if let Some(voters) = &args.controller_quorum_voters {
        config.set("controller.quorum.voters", voters).map_err(|e| format!("--controller-quorum-voters: {e}"))?;
    }
    if let Some(controller) = &args.controller_listen {
        let kafka = config.get("listeners").unwrap_or_default().to_string();
        let listeners = if kafka.is_empty() {
            format!("CONTROLLER://{controller}")
        } else {
            format!("{kafka},CONTROLLER://{controller}")
        };
        config.set("listeners", &listeners).map_err(|e| format!("--controller-listen: {e}"))?;
        config.set("controller.listener.names", "CONTROLLER").map_err(|e| format!("--controller-listen: {e}"))?;
        if config.get("listener.security.protocol.map").is_some_and(|m| !m.contains("CONTROLLER")) {
            let map = format!("{},CONTROLLER:PLAINTEXT", config.get("listener.security.protocol.map").unwrap_or_default());
            config.set("listener.security.protocol.map", &map).map_err(|e| format!("--controller-listen: {e}"))?;
        }
    }
    if let Some(advertised) = &args.advertised_listen {
        config
            .set("advertised.listeners", &format!("PLAINTEXT://{advertised}"))
            .map_err(|e| format!("--advertised-listen: {e}"))?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Runs the broker until SIGINT/SIGTERM; returns the process exit code.
pub(crate) fn run(args: ServerArgs) -> i32 {
    let config = match build_config(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_CONFIG_ERROR;
        }
    };
    // Settings given but without effect: Kafka warns of configs supplied but not used.
    for note in config.notes() {
        tracing::warn!("{note}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("spool").build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(spool_broker::run(config)) {
        Ok(()) => 0,
        Err(e) => {
            // What the broker still runs (fsyncs on a failed disk among them) may never
            // end, so nothing waits for it; and stderr may be a file on that disk, so a
            // failed write of the message must not stop the exit either.
            runtime.shutdown_background();
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn build(argv: &[&str]) -> Result<BrokerConfig, String> {
        let wrapper = Wrapper::try_parse_from(std::iter::once("server").chain(argv.iter().copied())).map_err(|e| e.to_string())?;
        build_config(&wrapper.args)
    }

    #[test]
    fn flags_override_sets_and_sets_apply_in_order() {
        let config = build(&[
            "--set", "log.dirs=/tmp/a",
            "--set", "num.partitions=3",
            "--set", "num.partitions=5",
            "--data-dir", "/tmp/b",
            "--listen", "127.0.0.1:19092",
        ])
        .unwrap();
        assert_eq!(config.get("log.dirs"), Some("/tmp/b"));
        assert_eq!(config.get("num.partitions"), Some("5"));
        assert_eq!(config.get("listeners"), Some("PLAINTEXT://127.0.0.1:19092"));
    }

    #[test]
    fn the_file_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(&path, "num.partitions=7\nlog.retention.hours=1\n").unwrap();
        let config = build(&["--config", path.to_str().unwrap(), "--set", "num.partitions=2"]).unwrap();
        assert_eq!(config.get("num.partitions"), Some("2"));
        assert_eq!(config.get("log.retention.hours"), Some("1"));
    }

    #[test]
    fn bad_configs_are_one_clear_message() {
        let err = build(&["--set", "num.partitionz=3"]).unwrap_err();
        assert!(err.contains("num.partitionz"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(build(&["--config", "/nonexistent/server.properties"]).is_err());
        assert!(build(&["--set", "noequals"]).is_err());
    }
}
