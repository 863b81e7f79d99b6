//! How many connections the broker holds: `max.connections` for all of its listeners
//! together and `max.connections.per.ip` for each client address, as Kafka's
//! `ConnectionQuotas` (KIP-402).
//!
//! At `max.connections`, a listener stops accepting until a connection closes: new
//! clients wait in the listen backlog, and are served in turn. The inter-broker
//! listener, where a broker has more than one, is exempt, so that replication and the
//! brokers' own requests go on (Kafka also closes the least recently used connection
//! of another listener then; Spool does not). A client address over
//! `max.connections.per.ip`, or over its own limit in `max.connections.per.ip.overrides`,
//! has its new connection closed at once. All three configs can be changed at runtime; a
//! listener waiting at the limit looks at it again every second, and host names in the
//! overrides are looked up again when the overrides change.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use spool_metadata::config::BrokerConfig;
use tokio::sync::Notify;

/// How long a listener waits for the addresses of a host named in the overrides.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections the broker holds, by client address.
#[derive(Default)]
pub(crate) struct ConnectionQuotas {
    open: Mutex<Open>,
    /// Woken whenever a connection closes.
    closed: Notify,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl ConnectionQuotas {
    /// Waits until the broker holds fewer than `max_connections()` connections. Reads
    /// the limit again after each close, and at least every second.
    pub(crate) async fn wait_for_slot(&self, max_connections: impl Fn() -> usize) {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            // Registered before the count is read, so that a close in between wakes it.
            closed.as_mut().enable();
            let max_connections = max_connections();
            if self.open.lock().total < max_connections {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), closed).await;
        }
    }

    /// Counts a connection from `ip`, unless that address already holds `max_per_ip`;
    /// then returns how many it holds. The connection is counted until the returned
    /// slot is dropped.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, max_per_ip: usize) -> Result<ConnectionSlot, usize> {
        let mut open = self.open.lock();
        let from_ip = open.by_ip.entry(ip).or_default();
        if *from_ip >= max_per_ip {
            let held = *from_ip;
            if held == 0 {
                open.by_ip.remove(&ip);
            }
            return Err(held);
        }
        *from_ip += 1;
        open.total += 1;
        Ok(ConnectionSlot { quotas: self.clone(), ip })
    }
}

/// `max.connections.per.ip` and its overrides, with the overrides' hosts looked up.
#[derive(Default)]
pub(crate) struct PerIpLimits {
    /// The overrides as last configured; looked up again only when they change.
    configured: Vec<(String, i32)>,
    by_ip: HashMap<IpAddr, usize>,
}

impl PerIpLimits {
    /// The limit of connections from `ip` under `config`: its override, if it has one
    /// (a host name counts for each of its addresses), else `max.connections.per.ip`.
    pub(crate) async fn limit(&mut self, ip: IpAddr, config: &BrokerConfig) -> usize {
        let overrides = config.max_connections_per_ip_overrides();
        if overrides != self.configured {
            self.by_ip = look_up(&overrides).await;
            self.configured = overrides;
        }
        match self.by_ip.get(&ip) {
            Some(limit) => *limit,
            None => usize::try_from(config.max_connections_per_ip()).unwrap_or(0),
        }
    }
}

/// The overrides by address. A host that cannot be looked up gets no override, and the
/// log says so.
async fn look_up(overrides: &[(String, i32)]) -> HashMap<IpAddr, usize> {
    let mut by_ip = HashMap::new();
    for (host, limit) in overrides {
        let limit = usize::try_from(*limit).unwrap_or(0);
        if let Ok(ip) = host.parse::<IpAddr>() {
            by_ip.insert(ip, limit);
            continue;
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0))).await {
            Ok(Ok(addresses)) => by_ip.extend(addresses.map(|address| (address.ip(), limit))),
            Ok(Err(e)) => tracing::warn!("max.connections.per.ip.overrides: cannot look up {host} ({e}); it gets no override"),
            Err(_) => tracing::warn!(
                "max.connections.per.ip.overrides: no address for {host} within {LOOKUP_TIMEOUT:?}; it gets no override"
            ),
        }
    }
    by_ip
}

/// One admitted connection, counted until dropped.
pub(crate) struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut open = self.quotas.open.lock();
            open.total = open.total.saturating_sub(1);
            if let Some(from_ip) = open.by_ip.get_mut(&self.ip) {
                *from_ip -= 1;
                if *from_ip == 0 {
                    open.by_ip.remove(&self.ip);
                }
            }
        }
        self.quotas.closed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit_and_a_closed_connection_frees_its_slot() {
        let quotas = Arc::new(ConnectionQuotas::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = quotas.admit(a, 2).unwrap();
        let _second = quotas.admit(a, 2).unwrap();
        assert_eq!(quotas.admit(a, 2).err(), Some(2), "a third from the same address");
        let _other = quotas.admit(b, 2).unwrap();
        assert_eq!(quotas.open.lock().total, 3);
        drop(first);
        assert_eq!(quotas.open.lock().total, 2);
        let _again = quotas.admit(a, 2).unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(quotas.admit(c, 0).err(), Some(0), "a limit of 0 admits none");
        assert!(!quotas.open.lock().by_ip.contains_key(&c), "and counts nothing for the address");
    }

    #[tokio::test]
    async fn an_override_sets_the_limit_of_its_addresses_and_follows_the_config() {
        let mut config = BrokerConfig::default();
        config.set("max.connections.per.ip", "3").unwrap();
        config.set("max.connections.per.ip.overrides", "10.0.0.1:1,localhost:0").unwrap();
        let mut limits = PerIpLimits::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(limits.limit(ip("10.0.0.1"), &config).await, 1);
        assert_eq!(limits.limit(ip("127.0.0.1"), &config).await, 0, "localhost, looked up");
        assert_eq!(limits.limit(ip("10.0.0.2"), &config).await, 3, "no override");
        config.set("max.connections.per.ip.overrides", "10.0.0.2:7").unwrap();
        assert_eq!(limits.limit(ip("10.0.0.1"), &config).await, 3, "override removed");
        assert_eq!(limits.limit(ip("10.0.0.2"), &config).await, 7, "override added");
    }

    #[tokio::test]
    async fn a_listener_at_the_limit_waits_until_a_connection_closes() {
        let quotas = Arc::new(ConnectionQuotas::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held = quotas.admit(ip, usize::MAX).unwrap();
        let waiting = tokio::spawn({
            let quotas = quotas.clone();
            async move { quotas.wait_for_slot(|| 1).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one connection held, at a limit of one");
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("woken by the close").unwrap();
    }
}
