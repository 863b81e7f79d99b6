//! Appends that failed on this broker's disk, reported to the operator.
//!
//! A producer retries a refused append (`KAFKA_STORAGE_ERROR` is retriable) and a
//! replica fetcher retries after its backoff, many times a second across partitions;
//! a full disk refuses all of them. The first failure is logged at once, with what to
//! do; later ones at most every [`REPORT_INTERVAL`], with how many there were.
//!
//! A failed append changes nothing: the log's size stays where it was, and the next
//! append overwrites whatever part reached the file. A failed fsync is another matter:
//! it takes the log offline and halts the broker (see `Log::on_offline`).

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use spool_storage::{AppendError, LogError};

const REPORT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(crate) struct AppendFailures {
    /// When the last report was logged, and the failures since.
    state: Mutex<Option<(Instant, u64)>>,
}

impl AppendFailures {
    /// Reports `error` from an append to `topic`-`partition` (`as_follower`: replicated
    /// from its leader) if it is a failure of the disk rather than of the records.
    pub(crate) fn report(&self, topic: &str, partition: i32, as_follower: bool, error: &AppendError) {
        let AppendError::Log(error @ LogError::Io { source, .. }) = error else { return };
        let since_last = {
            let mut state = self.state.lock();
            let since_last = match *state {
                Some((at, ref mut count)) if at.elapsed() < REPORT_INTERVAL => {
                    *count += 1;
                    return;
                }
                Some((_, count)) => count,
                None => 0,
            };
            *state = Some((Instant::now(), 0));
            since_last
        };
        let refused = if as_follower { "replication to this broker is" } else { "produce requests are" };
        let also = if since_last > 0 { format!(" ({since_last} more failed appends since the last report)") } else { String::new() };
        if source.kind() == ErrorKind::StorageFull {
            tracing::error!(
                topic,
                partition,
                "the disk is full: {error}; {refused} refused until space is freed (delete topics, lower \
                 retention.ms or retention.bytes, or grow the disk); nothing acknowledged is lost{also}"
            );
        } else {
            tracing::error!(topic, partition, "append failed: {error}; {refused} refused while this lasts{also}");
        }
    }
}
