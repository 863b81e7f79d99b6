//! How many connections the broker holds: `max.connections` for all of its listeners
//! together and `max.connections.per.ip` for each client address, as Kafka's
//! `ConnectionQuotas` (KIP-402).
//!
//! At `max.connections`, a listener stops accepting until a connection closes: new
//! clients wait in the listen backlog, and are served in turn. The inter-broker
//! listener, where a broker has more than one, is exempt, so that replication and the
//! brokers' own requests go on (Kafka also closes the least recently used connection
//! of another listener then; Spool does not). A client address over
//! `max.connections.per.ip` has its new connection closed at once. Both configs can be
//! changed at runtime; a listener waiting at the limit looks at it again every second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

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
            if self.open.lock().total < max_connections() {
                return;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), closed).await;
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
    async fn a_listener_at_the_limit_waits_until_a_connection_closes() {
        let quotas = Arc::new(ConnectionQuotas::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held = quotas.admit(ip, usize::MAX).unwrap();
        let waiting = tokio::spawn({
            let quotas = quotas.clone();
            async move { quotas.wait_for_slot(|| 1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "one connection held, at a limit of one");
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("woken by the close").unwrap();
    }
}
