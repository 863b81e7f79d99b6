//! A node that cannot reach a majority says so, periodically, instead of staying silent.
#![allow(clippy::unwrap_used)]

mod harness;

use std::io::Write;
use std::sync::{Arc, Mutex};

use harness::*;
use spool_quorum::SubmitError;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(needle).count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_voters_and_learners_log_that_they_wait() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("spool_quorum=info"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let spec = ClusterSpec::new(&[1, 2, 3], &[4]);
    let mut voter_config = spec.config(1);
    voter_config.timeouts.waiting_log_interval_ms = 300;
    voter_config.timeouts.submit_ms = 1000;
    let voter = spool_quorum::Quorum::start(voter_config).await.expect("voter 1 starts alone");
    let mut learner_config = spec.config(4);
    learner_config.timeouts.waiting_log_interval_ms = 300;
    let learner = spool_quorum::Quorum::start(learner_config).await.expect("learner starts");

    eventually("the voter repeatedly logs that it waits for a majority", || {
        logs.count("no metadata quorum leader: waiting for a majority of the voters") >= 2
    })
    .await;
    eventually("the learner logs that it waits to join", || logs.count("waiting to join the metadata quorum as a learner") >= 1)
        .await;
    assert_eq!(voter.leader_id(), None, "one voter of three never elects itself");
    assert_eq!(bounded("submit", voter.submit(register(1))).await, Err(SubmitError::NoLeader));

    learner.shutdown().await;
    voter.shutdown().await;
}
