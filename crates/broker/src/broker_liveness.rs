//! The active controller's notes on when it last heard from each broker, and which
//! brokers went silent for a whole session (Kafka's `BrokerHeartbeatManager`).
//!
//! Silence is only judged over time the controller spent listening. A controller that
//! just became active gives every broker a full session to be heard from. So does one
//! whose own checks stopped for a session or longer (the process was paused, or
//! starved of CPU): heartbeats sent meanwhile may still be waiting unread in its
//! sockets, so its notes say nothing about the brokers. Without that rule a controller
//! resumed after a `SIGSTOP` finds every other broker silent, and spends its fence
//! loop on requests its lost leadership cannot commit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct BrokerLiveness {
    last_heard: HashMap<i32, Instant>,
    /// When this node last checked as the active controller; `None` when it was not
    /// the active controller at its last check.
    last_check: Option<Instant>,
}

impl BrokerLiveness {
    /// Notes a heartbeat (or a registration) from `broker_id`.
    pub(crate) fn heard(&mut self, broker_id: i32, now: Instant) {
        self.last_heard.insert(broker_id, now);
    }

    /// Whether `broker_id` has been silent for longer than `session_timeout` as these
    /// notes see it (never heard of counts as not silent: nothing is known of it).
    pub(crate) fn is_silent(&self, broker_id: i32, now: Instant, session_timeout: Duration) -> bool {
        self.last_heard.get(&broker_id).is_some_and(|t| now.saturating_duration_since(*t) > session_timeout)
    }

    /// The brokers of `live` (registered, not fenced) silent for longer than
    /// `session_timeout`, checked at `now` by a node that `is_leader` (the active
    /// controller) or not. A first check as the active controller, and one after a
    /// session or more without checks, finds none and starts every broker of
    /// `registered` on a new session.
    pub(crate) fn expired(
        &mut self,
        is_leader: bool,
        registered: impl IntoIterator<Item = i32>,
        live: impl IntoIterator<Item = i32>,
        now: Instant,
        session_timeout: Duration,
    ) -> Vec<i32> {
        if !is_leader {
            self.last_check = None;
            return Vec::new();
        }
        let listened = self.last_check.is_some_and(|last| now.saturating_duration_since(last) <= session_timeout);
        self.last_check = Some(now);
        if !listened {
            for broker_id in registered {
                self.last_heard.insert(broker_id, now);
            }
            return Vec::new();
        }
        live.into_iter().filter(|&id| !self.last_heard.contains_key(&id) || self.is_silent(id, now, session_timeout)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_millis(3000);
    const TICK: Duration = Duration::from_millis(500);

    /// Checks every `TICK` from `from` through `until` as the active controller over
    /// brokers 1..=3, all live; returns what the last check found.
    fn check_until(notes: &mut BrokerLiveness, from: Instant, until: Instant) -> Vec<i32> {
        let mut at = from;
        let mut found = Vec::new();
        while at <= until {
            found = notes.expired(true, [1, 2, 3], [1, 2, 3], at, SESSION);
            at += TICK;
        }
        found
    }

    #[test]
    fn a_new_controller_gives_every_broker_a_session_then_fences_the_silent_one() {
        let t0 = Instant::now();
        let mut notes = BrokerLiveness::default();
        assert!(notes.expired(true, [1, 2, 3], [1, 2, 3], t0, SESSION).is_empty(), "never heard of, yet not expired at first");
        let mut at = t0;
        while at < t0 + SESSION + TICK * 2 {
            at += TICK;
            notes.heard(1, at);
            notes.heard(2, at);
            let found = notes.expired(true, [1, 2, 3], [1, 2, 3], at, SESSION);
            if at <= t0 + SESSION {
                assert!(found.is_empty(), "broker 3 still has its session at {:?}", at - t0);
            } else {
                assert_eq!(found, vec![3], "at {:?}", at - t0);
            }
        }
    }

    #[test]
    fn a_controller_whose_checks_stopped_for_a_session_fences_nobody_until_a_new_one_passes() {
        let t0 = Instant::now();
        let mut notes = BrokerLiveness::default();
        for id in [1, 2, 3] {
            notes.heard(id, t0);
        }
        assert!(check_until(&mut notes, t0, t0 + TICK * 2).is_empty());
        // Paused for four sessions: nobody was heard, and nobody is fenced for it.
        let resumed = t0 + TICK * 2 + SESSION * 4;
        assert!(notes.expired(true, [1, 2, 3], [1, 2, 3], resumed, SESSION).is_empty());
        assert!(!notes.is_silent(2, resumed, SESSION), "the pause gave broker 2 a new session");
        // Brokers 1 and 2 are heard again; 3 stays silent for the new session.
        let mut at = resumed;
        let mut found = Vec::new();
        while at <= resumed + SESSION + TICK {
            at += TICK;
            notes.heard(1, at);
            notes.heard(2, at);
            found = notes.expired(true, [1, 2, 3], [1, 2, 3], at, SESSION);
        }
        assert_eq!(found, vec![3]);
    }

    #[test]
    fn a_fenced_broker_is_not_found_again_and_losing_leadership_starts_over() {
        let t0 = Instant::now();
        let mut notes = BrokerLiveness::default();
        assert!(check_until(&mut notes, t0, t0).is_empty());
        let later = t0 + SESSION + TICK;
        assert!(check_until(&mut notes, t0 + TICK, later).contains(&2));
        // Broker 2 fenced: no longer live, no longer found.
        assert_eq!(notes.expired(true, [1, 2, 3], [1, 3], later + TICK, SESSION), vec![1, 3]);
        // Not the active controller: nothing found; active again: a new session for all.
        assert!(notes.expired(false, [1, 2, 3], [1, 3], later + TICK * 2, SESSION).is_empty());
        assert!(notes.expired(true, [1, 2, 3], [1, 3], later + TICK * 3, SESSION).is_empty());
        assert!(!notes.is_silent(1, later + TICK * 3, SESSION));
    }
}
