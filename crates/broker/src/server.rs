//! The listener, background tasks and clean shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spool_metadata::config::{BrokerConfig, SecurityProtocol};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::broker::{now_ms, Broker};
use crate::connection;
use crate::connection_quotas::{ConnectionQuotas, PerIpLimits};
use crate::sasl::PlainUsers;
use crate::tls::{self, ClientStream};

/// How long a client on an SSL listener has to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A started broker: its listeners are bound and its tasks are running.
pub struct Server {
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The address of the first Kafka listener.
    pub local_addr: std::net::SocketAddr,
    /// Every bound Kafka listener: its name and address, in the order of `listeners`.
    pub listener_addrs: Vec<(String, std::net::SocketAddr)>,
}

impl Server {
    /// Opens the broker's state and binds every Kafka (non-controller) listener, as Kafka's
    /// `SocketServer` does: a client's requests are answered with the addresses of the
    /// listener it connected through.
    ///
    /// # Errors
    /// When the data directory is unusable or a listener cannot be bound.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Server> {
        let controller_names = config.controller_listener_names();
        let listener_configs: Vec<_> =
            config.listeners().into_iter().filter(|l| !controller_names.contains(&l.name)).collect();
        if listener_configs.is_empty() {
            anyhow::bail!("no Kafka listener configured: set listeners=PLAINTEXT://HOST:PORT (or --listen)");
        }
        // The listeners are bound before the broker opens, so the ports are ours before
        // anything else binds (the metadata quorum's own listener may take an ephemeral
        // port, which could otherwise be a configured Kafka port still free). Connections
        // wait in the backlog until the broker accepts them: once it has registered and
        // caught up with the metadata log, so that no client is told of a cluster without
        // brokers, or of one as it was before this node last stopped.
        // Each listener's security, set up before anything is bound, so that a key store
        // that cannot be used stops the broker before it listens.
        let mut securities = Vec::with_capacity(listener_configs.len());
        for listener_config in &listener_configs {
            securities.push(ListenerSecurity::of(&config, &listener_config.name)?);
        }
        let mut bound = Vec::with_capacity(listener_configs.len());
        for (listener_config, security) in listener_configs.iter().zip(securities) {
            // `PLAINTEXT://:9092` means every interface, as in Kafka.
            let host = if listener_config.host.is_empty() { "0.0.0.0" } else { listener_config.host.as_str() };
            let bind = format!("{host}:{}", listener_config.port);
            let listener = TcpListener::bind(&bind).await.with_context(|| {
                format!(
                    "cannot bind listener {} on {bind}; is another broker running there? (change its port in listeners or --listen)",
                    listener_config.name
                )
            })?;
            bound.push((listener_config.name.clone(), listener, security));
        }
        let broker = Broker::open(config).await?;
        broker.registered().await;
        let mut listener_addrs = Vec::with_capacity(bound.len());
        for (name, listener, _) in &bound {
            listener_addrs.push((name.clone(), listener.local_addr()?));
        }
        let local_addr = listener_addrs[0].1;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let quotas = Arc::new(ConnectionQuotas::default());
        // Kafka's `protectedListener`: the inter-broker listener, if it is not the only one.
        let inter_broker = broker.config.inter_broker_listener_name();
        let several = bound.len() > 1;
        for (name, listener, security) in bound {
            let limits = ListenerLimits {
                quotas: quotas.clone(),
                protected: several && name == inter_broker,
                per_ip: PerIpLimits::default(),
            };
            let accept = accept_loop(listener, security, Arc::from(name), limits, broker.clone(), shutdown_rx.clone());
            tasks.push(tokio::spawn(accept));
        }
        tasks.push(tokio::spawn(retention_loop(broker.clone(), shutdown_rx.clone())));
        tasks.push(tokio::spawn(tick_loop(broker.clone(), shutdown_rx.clone())));
        tasks.push(tokio::spawn(recovery_checkpoint_loop(broker.clone(), shutdown_rx.clone())));
        if broker.config.log_cleaner_enable() {
            tasks.push(tokio::spawn(cleaner_loop(broker.clone(), shutdown_rx.clone())));
        }
        tasks.push(tokio::spawn(isr_loop(broker.clone(), shutdown_rx)));
        let addresses: Vec<String> = listener_addrs.iter().map(|(name, addr)| format!("{name}://{addr}")).collect();
        tracing::info!(
            node_id = broker.node_id,
            cluster_id = %broker.cluster_id,
            data_dir = %broker.data_dir.display(),
            "Spool broker listening on {}",
            addresses.join(", ")
        );
        Ok(Server { broker, shutdown, tasks, local_addr, listener_addrs })
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Moves leadership away (controlled shutdown), stops accepting, ends the
    /// background tasks and closes every log cleanly.
    pub async fn shutdown(self) {
        self.broker.controlled_shutdown().await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let broker = self.broker;
        broker.metadata.shutdown().await;
        let _ = tokio::task::spawn_blocking(move || broker.shutdown()).await;
        tracing::info!("Spool broker stopped cleanly");
    }
}

/// Runs a broker until SIGINT or SIGTERM, then shuts it down cleanly; or until its data
/// directory or its metadata log fails, then returns at once, without a clean shutdown.
///
/// # Errors
/// When the broker cannot start, or when its data directory failed: an fsync of a log
/// failed, so the disk lost writes that may already have been acknowledged. Kafka halts a
/// broker whose only log directory failed, and so does this: the broker stops serving
/// its partitions, so that the other replicas take them over, and every log is
/// recovered when it starts again. Likewise when the metadata log could not be written
/// (the quorum member stopped). The caller should exit without waiting for the broker's
/// tasks (a failing disk can hang them).
pub async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    if !config.process_roles().contains(&spool_metadata::config::ProcessRole::Broker) {
        return crate::metadata_quorum::run_controller_only(config, wait_for_signal()).await;
    }
    let server = Server::start(config).await?;
    let mut failure = server.broker().replicas.log_dir_failure();
    tokio::select! {
        () = wait_for_signal() => {}
        Ok(reason) = failure.wait_for(Option::is_some) => {
            let reason = reason.clone().unwrap_or_default();
            let data_dir = server.broker().data_dir.display().to_string();
            tracing::error!(%data_dir, "the data directory failed ({reason}); the broker stops");
            anyhow::bail!(
                "the data directory {data_dir} failed ({reason}); the broker stopped so that other replicas take over \
                 its partitions. Check the disk (kernel log, free space), then start the broker again: it recovers \
                 every log, checking what was written since its last checkpoint"
            );
        }
        reason = server.broker().metadata.failure() => {
            tracing::error!("the metadata log failed ({reason}); the broker stops");
            anyhow::bail!("{}", crate::metadata_quorum::metadata_log_failed(&reason));
        }
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// How a listener's clients connect: TLS on SSL and SASL_SSL listeners, SASL
/// authentication on SASL_PLAINTEXT and SASL_SSL ones.
#[derive(Clone, Default)]
struct ListenerSecurity {
    tls: Option<TlsAcceptor>,
    sasl: Option<Arc<PlainUsers>>,
}

impl ListenerSecurity {
    fn of(config: &BrokerConfig, listener: &str) -> anyhow::Result<ListenerSecurity> {
        let protocol = config.listener_security_protocol(listener).unwrap_or(SecurityProtocol::Plaintext);
        let mut security = ListenerSecurity::default();
        if matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
            let settings = config.ssl_settings(listener)?;
            let acceptor =
                tls::acceptor(&settings).with_context(|| format!("cannot set up TLS for listener {listener}"))?;
            security.tls = Some(acceptor);
        }
        if matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl) {
            security.sasl = Some(Arc::new(PlainUsers::new(config.sasl_settings(listener)?)));
        }
        Ok(security)
    }
}

/// The connection limits one listener applies (see [`crate::connection_quotas`]).
struct ListenerLimits {
    quotas: Arc<ConnectionQuotas>,
    /// Exempt from `max.connections`: the inter-broker listener of a broker with others.
    protected: bool,
    per_ip: PerIpLimits,
}

/// The broker's config as it is now, with what was changed at runtime.
fn current_config(broker: &Broker) -> BrokerConfig {
    broker.config.with_dynamic(&broker.image(), broker.node_id)
}

/// Accepts the connections of one listener, within the broker's connection limits;
/// each serves its client as that listener, after a TLS handshake on an SSL listener.
async fn accept_loop(
    listener: TcpListener,
    security: ListenerSecurity,
    name: Arc<str>,
    mut limits: ListenerLimits,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if !limits.protected {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = limits.quotas.wait_for_slot(|| usize::try_from(current_config(&broker).max_connections()).unwrap_or(0)) => {}
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let max_per_ip = limits.per_ip.limit(peer.ip(), &current_config(&broker)).await;
                    let slot = match limits.quotas.admit(peer.ip(), max_per_ip) {
                        Ok(slot) => slot,
                        Err(held) => {
                            tracing::info!(
                                %peer,
                                listener = %name,
                                "closing a new connection: {} holds {held} (max.connections.per.ip or its override)",
                                peer.ip()
                            );
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    size_socket_buffers(&stream, &broker.config, peer);
                    let (name, broker, shutdown) = (name.clone(), broker.clone(), shutdown.clone());
                    let sasl = security.sasl.clone();
                    let Some(tls) = security.tls.clone() else {
                        let stream = ClientStream::Plain(stream);
                        tokio::spawn(async move {
                            connection::serve(stream, peer, name, sasl, broker, shutdown).await;
                            drop(slot);
                        });
                        continue;
                    };
                    tokio::spawn(async move {
                        let _slot = slot;
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let stream = ClientStream::Tls(Box::new(stream));
                                connection::serve(stream, peer, name, sasl, broker, shutdown).await;
                            }
                            Ok(Err(e)) => tracing::info!(
                                %peer,
                                listener = %name,
                                "TLS handshake failed ({e}); the client needs security.protocol=SSL and must trust \
                                 the authority of the broker's certificate (and the broker that of the client's)"
                            ),
                            Err(_) => tracing::info!(%peer, listener = %name, "TLS handshake not done within {TLS_HANDSHAKE_TIMEOUT:?}"),
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Sizes the kernel buffers of an accepted connection as `socket.send.buffer.bytes` and
/// `socket.receive.buffer.bytes` say, as Kafka's acceptor does: a size of -1 (or any
/// size below 1) leaves the kernel's own, which it grows with the connection's traffic;
/// a size set is fixed, and Linux reserves twice as much, half for its bookkeeping.
/// Spool's default is the kernel's own. Kafka's 100 KiB lets a connection have at most
/// about 200 KiB on its way: a 1 MB produce request then arrives in five or more reads,
/// each a wakeup of the broker and of the blocked client (measured on loopback: 15% more
/// broker CPU per record), and across a wide link it limits each round trip.
fn size_socket_buffers(stream: &tokio::net::TcpStream, config: &BrokerConfig, peer: std::net::SocketAddr) {
    use rustix::net::sockopt;
    if let Ok(send @ 1..) = usize::try_from(config.socket_send_buffer_bytes()) {
        if let Err(e) = sockopt::set_socket_send_buffer_size(stream, send) {
            tracing::debug!(%peer, "setting SO_SNDBUF to {send} failed: {e}");
        }
    }
    if let Ok(receive @ 1..) = usize::try_from(config.socket_receive_buffer_bytes()) {
        if let Err(e) = sockopt::set_socket_recv_buffer_size(stream, receive) {
            tracing::debug!(%peer, "setting SO_RCVBUF to {receive} failed: {e}");
        }
    }
}

/// Runs `task` on a blocking thread every `period` (the log maintenance below reads and
/// writes files under partition locks) until shutdown; a run that takes long delays the
/// next one rather than overlapping it.
async fn every(period: Duration, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>, task: fn(&Broker)) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(period) => {
                let broker = broker.clone();
                let _ = tokio::task::spawn_blocking(move || task(&broker)).await;
            }
        }
    }
}

/// Retention every `log.retention.check.interval.ms`.
async fn retention_loop(broker: Arc<Broker>, shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.log_retention_check_interval_ms().max(10) as u64);
    every(period, broker, shutdown, |broker| broker.replicas.enforce_retention(now_ms())).await;
}

/// The log cleaner: a pass over the compacted logs every `log.cleaner.backoff.ms`
/// (cleaning reads and rewrites whole segments).
async fn cleaner_loop(broker: Arc<Broker>, shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.log_cleaner_backoff_ms().max(10) as u64);
    every(period, broker, shutdown, |broker| {
        let buffer_bytes = broker.config.log_cleaner_dedupe_buffer_size().max(0) as f64;
        let load_factor = broker.config.log_cleaner_io_buffer_load_factor().clamp(0.0, 1.0);
        let max_map_entries = (buffer_bytes * load_factor / spool_storage::OFFSET_MAP_ENTRY_BYTES as f64) as usize;
        broker.replicas.clean_logs(now_ms(), max_map_entries);
    })
    .await;
}

/// Time-based rolls and flushes, every second.
async fn tick_loop(broker: Arc<Broker>, shutdown: watch::Receiver<bool>) {
    every(Duration::from_millis(1000), broker, shutdown, |broker| broker.replicas.tick(now_ms())).await;
}

/// Recovery-point checkpoints every `log.flush.offset.checkpoint.interval.ms`.
async fn recovery_checkpoint_loop(broker: Arc<Broker>, shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.log_flush_offset_checkpoint_interval_ms().max(10) as u64);
    every(period, broker, shutdown, |broker| broker.replicas.checkpoint_recovery_points()).await;
}

async fn isr_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis((broker.config.replica_lag_time_max_ms() / 2).clamp(100, 60_000) as u64);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(period) => broker.shrink_lagging_isrs(now_ms()).await,
        }
    }
}

