//! One client connection: frames in, responses out, in request order.
//!
//! Requests on a connection are handled one after another, so they take effect in the
//! order they were sent. A request whose response waits on something else (an
//! `acks=all` produce waiting on replication) does not hold up the ones behind it: up
//! to [`MAX_IN_FLIGHT`] responses may be outstanding, and they are sent in request
//! order as they complete. Anything malformed closes this connection only. A client
//! throttled for going over its quota is muted: nothing more is read from it until
//! its throttle time has passed. On a SASL listener nothing but ApiVersions and the
//! SASL exchange is served until the client has authenticated (see [`crate::sasl`]).
//! A connection that neither took a request nor answered one for
//! `connections.max.idle.ms`, and owes no response, is closed, as Kafka's network
//! threads close idle ones; a client connects again when it next needs to.
//!
//! A producer pipelines its requests, so one read often brings several. The answer to
//! a Produce request that another whole Produce request follows is held back, and
//! written with the next one's: one `send` for the lot, and one wake-up of the client
//! instead of one per answer. (librdkafka's C producer over 1,000 partitions sends each
//! partition's batch in a request of its own; with this, the broker made 0.5 to 0.8
//! sends per request instead of one.) An answer waits at most as long as the next
//! append takes, which on a topic that fsyncs every append is one fsync. Before a
//! request of any other kind, which may wait (a long-polling Fetch), what was held back
//! is written.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::stream::{FuturesOrdered, StreamExt};
use spool_metadata::quota::ANONYMOUS_USER;
use kafka_protocol::messages::ApiKey;
use spool_protocol::frame::{peek_frame_len, take_frame, FrameError};
use spool_protocol::header::peek_prefix;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::dispatch::{self, LaterResponse, Outcome};
use crate::response::Response;
use crate::sasl::{self, PlainUsers, SaslState, SaslStep};
use crate::tls::ClientStream;

/// How many responses one connection may owe before it stops reading requests: a
/// producer's pipeline depth for `acks=all` (librdkafka's default
/// `max.in.flight.requests.per.connection` is far larger; Java's is 5).
const MAX_IN_FLIGHT: usize = 32;

const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Responses held back for one write are written once they reach this many bytes.
const UNSENT_MAX_BYTES: usize = 64 * 1024;

/// Serves one connection accepted on the listener named `listener` (Kafka's
/// `RequestContext.listenerName`): the addresses it hands out are that listener's. On a
/// SASL listener (`sasl` names its users) the client must authenticate first (see
/// [`crate::sasl`]); its user is then the connection's principal, else `ANONYMOUS`.
pub(crate) async fn serve(
    mut stream: ClientStream,
    peer: SocketAddr,
    listener: Arc<str>,
    sasl: Option<Arc<PlainUsers>>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    // `None` until a client of a SASL listener has authenticated.
    let mut principal = if sasl.is_some() { None } else { Some(ANONYMOUS_USER.to_string()) };
    let mut sasl_state = SaslState::default();
    let max_frame_bytes = broker.config.socket_request_max_bytes().max(0) as usize;
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut output = BytesMut::with_capacity(READ_CHUNK_BYTES);
    // Responses not yet written, held back while Produce requests follow (see the module doc).
    let mut unsent = BytesMut::new();
    // Responses owed, oldest first. Empty unless an earlier response is still waiting.
    let mut in_flight: FuturesOrdered<LaterResponse> = FuturesOrdered::new();
    // A client over its quota: nothing more is read from it until then.
    let mut muted_until: Option<tokio::time::Instant> = None;
    // 0 or less: never closed for idleness.
    let max_idle = u64::try_from(broker.config.connections_max_idle_ms()).ok().filter(|&ms| ms > 0).map(Duration::from_millis);
    let mut last_active = tokio::time::Instant::now();
    // One timer for the connection's life, moved on only when it goes off early: setting
    // one per wait would register a timer per read.
    let mut idle_timer = std::pin::pin!(tokio::time::sleep(max_idle.unwrap_or_default()));
    loop {
        let muted = muted_until.is_some_and(|until| until > tokio::time::Instant::now());
        let frame = if muted || in_flight.len() >= MAX_IN_FLIGHT {
            None
        } else {
            match take_frame(&mut input, max_frame_bytes) {
                Ok(frame) => frame,
                Err(e @ FrameError::TooLarge { .. }) | Err(e @ FrameError::NegativeLength(_)) => {
                    tracing::warn!(%peer, "closing connection: {e}");
                    flush(&mut stream, &mut unsent, peer).await;
                    return;
                }
            }
        };
        let Some(frame) = frame else {
            if !flush(&mut stream, &mut unsent, peer).await {
                return;
            }
            if input.capacity() - input.len() < 4096 {
                input.reserve(READ_CHUNK_BYTES);
            }
            let may_read = !muted && in_flight.len() < MAX_IN_FLIGHT;
            let unmute_at = muted_until.unwrap_or_else(tokio::time::Instant::now);
            let may_idle_out = max_idle.is_some() && !muted && in_flight.is_empty();
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(unmute_at), if muted => muted_until = None,
                _ = &mut idle_timer, if may_idle_out => {
                    let max_idle = max_idle.unwrap_or_default();
                    let idle_out_at = last_active + max_idle;
                    if idle_out_at > tokio::time::Instant::now() {
                        idle_timer.as_mut().reset(idle_out_at);
                    } else {
                        tracing::debug!(%peer, "closing connection idle for {max_idle:?} (connections.max.idle.ms)");
                        return;
                    }
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                    Ok(response) => {
                        if let Err(e) = response.write_to(&mut stream).await {
                            tracing::debug!(%peer, "write failed: {e}");
                            return;
                        }
                        last_active = tokio::time::Instant::now();
                    }
                    Err(reason) => {
                        tracing::warn!(%peer, "closing connection: {reason}");
                        return;
                    }
                },
                read = stream.read_buf(&mut input), if may_read => match read {
                    Ok(0) => {
                        if !input.is_empty() {
                            tracing::debug!(%peer, "connection closed mid-frame ({} bytes pending)", input.len());
                        }
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(%peer, "read failed: {e}");
                        return;
                    }
                },
            }
            continue;
        };
        last_active = tokio::time::Instant::now();
        let frame = frame.freeze();
        let principal = match (&principal, &sasl) {
            (Some(principal), _) => principal.as_str(),
            (None, Some(users)) => match sasl::step(users, &mut sasl_state, &frame, &mut output) {
                SaslStep::Dispatch => ANONYMOUS_USER,
                SaslStep::Respond => {
                    if !write_now(&mut stream, &mut unsent, &mut output, peer).await {
                        return;
                    }
                    continue;
                }
                SaslStep::Authenticated(user) => {
                    tracing::debug!(%peer, %listener, %user, "SASL/PLAIN authentication succeeded");
                    principal = Some(user);
                    if !write_now(&mut stream, &mut unsent, &mut output, peer).await {
                        return;
                    }
                    continue;
                }
                SaslStep::RespondAndClose(reason) => {
                    tracing::info!(%peer, %listener, "failed SASL authentication ({reason})");
                    write_now(&mut stream, &mut unsent, &mut output, peer).await;
                    return;
                }
                SaslStep::Close(reason) => {
                    tracing::warn!(%peer, %listener, "closing connection: {reason}");
                    flush(&mut stream, &mut unsent, peer).await;
                    return;
                }
            },
            (None, None) => unreachable!("a connection without SASL starts authenticated"),
        };
        let mut throttle = Duration::ZERO;
        let outcome = dispatch::handle(&broker, peer, &listener, principal, frame, &mut output, &mut throttle).await;
        // A long-polling Fetch is answered here: the connection was busy until now.
        last_active = tokio::time::Instant::now();
        if !throttle.is_zero() {
            muted_until = Some(tokio::time::Instant::now() + throttle);
        }
        let response = match outcome {
            Outcome::Respond => Response::Frame(output.split()),
            Outcome::RespondParts(parts) => Response::Parts(parts),
            Outcome::Later(response) => {
                if !flush(&mut stream, &mut unsent, peer).await {
                    return;
                }
                in_flight.push_back(response);
                continue;
            }
            Outcome::NoResponse => continue,
            Outcome::Close(reason) => {
                tracing::warn!(%peer, "closing connection: {reason}");
                flush(&mut stream, &mut unsent, peer).await;
                return;
            }
        };
        if !in_flight.is_empty() {
            // Behind a response still owed: queued, to keep request order.
            in_flight.push_back(Box::pin(std::future::ready(Ok(response))));
            continue;
        }
        match response {
            Response::Frame(frame) => {
                unsent.unsplit(frame);
                let hold = unsent.len() < UNSENT_MAX_BYTES && next_is_produce(&input);
                if !hold && !flush(&mut stream, &mut unsent, peer).await {
                    return;
                }
            }
            parts => {
                if !flush(&mut stream, &mut unsent, peer).await {
                    return;
                }
                if let Err(e) = parts.write_to(&mut stream).await {
                    tracing::debug!(%peer, "write failed: {e}");
                    return;
                }
            }
        }
    }
}

/// Whether `input` starts with a whole Produce request (API key 0), whose answer can
/// go out together with the one just made.
fn next_is_produce(input: &[u8]) -> bool {
    let Ok(Some(size)) = peek_frame_len(input, usize::MAX) else { return false };
    let whole = input.get(4..4 + size);
    whole.and_then(|frame| peek_prefix(frame).ok()).is_some_and(|prefix| prefix.api_key == ApiKey::Produce as i16)
}

/// Writes the responses in `unsent`, if any; false when the connection failed.
async fn flush(stream: &mut ClientStream, unsent: &mut BytesMut, peer: SocketAddr) -> bool {
    if unsent.is_empty() {
        return true;
    }
    match Response::Frame(unsent.split()).write_to(stream).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(%peer, "write failed: {e}");
            false
        }
    }
}

/// Writes the response in `output` at once, behind any held back, as every answer
/// before authentication is; false when the connection failed.
async fn write_now(stream: &mut ClientStream, unsent: &mut BytesMut, output: &mut BytesMut, peer: SocketAddr) -> bool {
    unsent.unsplit(output.split());
    flush(stream, unsent, peer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(api_key: i16, body_len: usize) -> Vec<u8> {
        let mut frame = ((2 + body_len) as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&api_key.to_be_bytes());
        frame.resize(4 + 2 + body_len, 7);
        frame
    }

    #[test]
    fn only_a_whole_produce_request_is_next() {
        assert!(next_is_produce(&frame(0, 30)), "a whole Produce request");
        let mut two = frame(0, 30);
        two.extend(frame(1, 10));
        assert!(next_is_produce(&two), "a whole Produce request before another request");
        assert!(!next_is_produce(&frame(0, 30)[..20]), "part of a Produce request");
        assert!(!next_is_produce(&frame(1, 30)), "a Fetch request");
        assert!(!next_is_produce(&[0, 0, 0]), "part of a length prefix");
        assert!(!next_is_produce(&[0xff, 0xff, 0xff, 0xff, 0, 0]), "a negative length");
        assert!(!next_is_produce(&[]), "nothing");
    }
}
