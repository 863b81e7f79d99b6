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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::stream::{FuturesOrdered, StreamExt};
use spool_metadata::quota::ANONYMOUS_USER;
use spool_protocol::frame::{take_frame, FrameError};
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
    // Responses owed, oldest first. Empty unless an earlier response is still waiting.
    let mut in_flight: FuturesOrdered<LaterResponse> = FuturesOrdered::new();
    // A client over its quota: nothing more is read from it until then.
    let mut muted_until: Option<tokio::time::Instant> = None;
    loop {
        let muted = muted_until.is_some_and(|until| until > tokio::time::Instant::now());
        let frame = if muted || in_flight.len() >= MAX_IN_FLIGHT {
            None
        } else {
            match take_frame(&mut input, max_frame_bytes) {
                Ok(frame) => frame,
                Err(e @ FrameError::TooLarge { .. }) | Err(e @ FrameError::NegativeLength(_)) => {
                    tracing::warn!(%peer, "closing connection: {e}");
                    return;
                }
            }
        };
        let Some(frame) = frame else {
            if input.capacity() - input.len() < 4096 {
                input.reserve(READ_CHUNK_BYTES);
            }
            let may_read = !muted && in_flight.len() < MAX_IN_FLIGHT;
            let unmute_at = muted_until.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(unmute_at), if muted => muted_until = None,
                Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                    Ok(response) => {
                        if let Err(e) = response.write_to(&mut stream).await {
                            tracing::debug!(%peer, "write failed: {e}");
                            return;
                        }
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
        let frame = frame.freeze();
        let principal = match (&principal, &sasl) {
            (Some(principal), _) => principal.as_str(),
            (None, Some(users)) => match sasl::step(users, &mut sasl_state, &frame, &mut output) {
                SaslStep::Dispatch => ANONYMOUS_USER,
                SaslStep::Respond => {
                    if !write_now(&mut stream, &mut output, peer).await {
                        return;
                    }
                    continue;
                }
                SaslStep::Authenticated(user) => {
                    tracing::debug!(%peer, %listener, %user, "SASL/PLAIN authentication succeeded");
                    principal = Some(user);
                    if !write_now(&mut stream, &mut output, peer).await {
                        return;
                    }
                    continue;
                }
                SaslStep::RespondAndClose(reason) => {
                    tracing::info!(%peer, %listener, "failed SASL authentication ({reason})");
                    write_now(&mut stream, &mut output, peer).await;
                    return;
                }
                SaslStep::Close(reason) => {
                    tracing::warn!(%peer, %listener, "closing connection: {reason}");
                    return;
                }
            },
            (None, None) => unreachable!("a connection without SASL starts authenticated"),
        };
        let mut throttle = Duration::ZERO;
        let outcome = dispatch::handle(&broker, peer, &listener, principal, frame, &mut output, &mut throttle).await;
        if !throttle.is_zero() {
            muted_until = Some(tokio::time::Instant::now() + throttle);
        }
        let response = match outcome {
            Outcome::Respond => Response::Frame(output.split()),
            Outcome::RespondParts(parts) => Response::Parts(parts),
            Outcome::Later(response) => {
                in_flight.push_back(response);
                continue;
            }
            Outcome::NoResponse => continue,
            Outcome::Close(reason) => {
                tracing::warn!(%peer, "closing connection: {reason}");
                return;
            }
        };
        if !in_flight.is_empty() {
            // Behind a response still owed: queued, to keep request order.
            in_flight.push_back(Box::pin(std::future::ready(Ok(response))));
        } else if let Err(e) = response.write_to(&mut stream).await {
            tracing::debug!(%peer, "write failed: {e}");
            return;
        }
    }
}

/// Writes the response in `output` at once, as every answer before authentication is
/// (nothing can be owed yet); false when the connection failed.
async fn write_now(stream: &mut ClientStream, output: &mut BytesMut, peer: SocketAddr) -> bool {
    match Response::Frame(output.split()).write_to(stream).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(%peer, "write failed: {e}");
            false
        }
    }
}
