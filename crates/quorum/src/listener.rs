//! The controller listener: serves the Raft RPCs of peers, requests forwarded by
//! followers and learners, and learners asking to join.
//!
//! Each connection is served by its own task, one request at a time; at most
//! `connections_max` connections are open at once (more are closed at accept). A
//! connection idle for [`IDLE_TIMEOUT`], or sending a frame that is too large or not
//! decodable, is closed; nothing a peer sends can make the node panic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::quorum::QuorumNode;
use crate::wire::{encode_frame, read_frame, write_frame, Request, RequestFrame, Response};

/// A connection with no request for this long is closed (Raft peers send heartbeats far
/// more often; a forwarding node reconnects when it needs to).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Accepts connections until the task is aborted (which also ends every connection task).
pub(crate) async fn serve(listener: TcpListener, node: Arc<QuorumNode>) {
    let permits = Arc::new(Semaphore::new(node.config.limits.connections_max));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, limit = node.config.limits.connections_max, "too many controller connections; closing the new one");
                        continue;
                    };
                    let node = node.clone();
                    connections.spawn(async move {
                        serve_connection(stream, peer, node).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!("accepting a controller connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, node: Arc<QuorumNode>) {
    let _ = stream.set_nodelay(true);
    let frame_bytes_max = node.config.limits.frame_bytes_max;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let frame: RequestFrame = match tokio::time::timeout(IDLE_TIMEOUT, read_frame(&mut reader, frame_bytes_max)).await {
            Err(_) | Ok(Ok(None)) => return,
            Ok(Ok(Some(frame))) => frame,
            Ok(Err(e)) => {
                tracing::debug!(%peer, "closing controller connection: {e}");
                let refusal = Response::Refused(format!("bad frame: {e}"));
                if let Ok(bytes) = encode_frame(&refusal, frame_bytes_max) {
                    let _ = write_frame(&mut write, &bytes).await;
                }
                return;
            }
        };
        if let Err(reason) = node.check_sender(&frame.sender) {
            node.log_refusal(peer, &reason);
            if let Ok(bytes) = encode_frame(&Response::Refused(reason), frame_bytes_max) {
                let _ = write_frame(&mut write, &bytes).await;
            }
            return;
        }
        let response = handle(&node, frame.body).await;
        let bytes = match encode_frame(&response, frame_bytes_max) {
            Ok(bytes) => bytes,
            Err(e) => match encode_frame(&Response::Refused(format!("answer not sendable: {e}")), frame_bytes_max) {
                Ok(bytes) => bytes,
                Err(_) => return,
            },
        };
        if write_frame(&mut write, &bytes).await.is_err() {
            return;
        }
    }
}

async fn handle(node: &Arc<QuorumNode>, request: Request) -> Response {
    match request {
        Request::AppendEntries(rpc) => Response::AppendEntries(node.raft.append_entries(rpc).await),
        Request::Vote(rpc) => Response::Vote(node.raft.vote(rpc).await),
        Request::InstallSnapshot(rpc) => Response::InstallSnapshot(node.raft.install_snapshot(rpc).await),
        Request::Forward { request, timeout_ms } => Response::Forward(node.handle_forward(request, timeout_ms).await),
        Request::AddLearner { node_id, address } => Response::AddLearner(node.add_learner(node_id, address).await),
    }
}
