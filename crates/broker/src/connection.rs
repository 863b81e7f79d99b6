//! One client connection: frames in, responses out, in request order.
//!
//! Requests on a connection are handled one at a time, as Kafka does, so responses
//! keep the order of their requests. Anything malformed closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use spool_protocol::frame::{take_frame, FrameError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::broker::Broker;
use crate::dispatch::{self, Outcome};

const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Serves one connection accepted on the listener named `listener` (Kafka's
/// `RequestContext.listenerName`): the addresses it hands out are that listener's.
pub(crate) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let max_frame_bytes = broker.config.socket_request_max_bytes().max(0) as usize;
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut output = BytesMut::with_capacity(READ_CHUNK_BYTES);
    loop {
        let frame = match take_frame(&mut input, max_frame_bytes) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if input.capacity() - input.len() < 4096 {
                    input.reserve(READ_CHUNK_BYTES);
                }
                let read = tokio::select! {
                    _ = shutdown.changed() => return,
                    read = stream.read_buf(&mut input) => read,
                };
                match read {
                    Ok(0) => {
                        if !input.is_empty() {
                            tracing::debug!(%peer, "connection closed mid-frame ({} bytes pending)", input.len());
                        }
                        return;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(%peer, "read failed: {e}");
                        return;
                    }
                }
            }
            Err(e @ FrameError::TooLarge { .. }) | Err(e @ FrameError::NegativeLength(_)) => {
                tracing::warn!(%peer, "closing connection: {e}");
                return;
            }
        };
        match dispatch::handle(&broker, peer, &listener, frame.freeze(), &mut output).await {
            Outcome::Respond => {
                if let Err(e) = stream.write_all(&output).await {
                    tracing::debug!(%peer, "write failed: {e}");
                    return;
                }
                output.clear();
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(%peer, "closing connection: {reason}");
                return;
            }
        }
    }
}
