//! The client side of the controller listener: openraft's [`RaftNetworkFactory`] and
//! [`RaftNetwork`], and the connection they and forwarded requests share.
//!
//! One TCP connection per peer and purpose, one request in flight on it. Every call is
//! bounded by a timeout covering connect, send and answer; any failure drops the
//! connection and the next call reconnects. Voters are reached at the addresses of this
//! node's own `controller.quorum.voters`; learners at the address they advertised when
//! they joined (kept in the Raft membership).

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use tokio::io::BufReader;
use tokio::net::TcpStream;

use crate::raft_types::{node_id, TypeConfig};
use crate::wire::{encode_frame, read_frame, write_frame, FrameError, Request, RequestFrame, Response, Sender};

/// What every outgoing call needs to know about this node.
#[derive(Debug)]
pub(crate) struct Local {
    pub sender: Sender,
    /// Voter id to `host:port`, from this node's configuration.
    pub voters: BTreeMap<i32, String>,
    pub frame_bytes_max: usize,
    pub rpc_timeout: Duration,
}

/// Why a call got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// No connection could be made: the request was certainly not delivered.
    #[error("cannot connect to {address}: {source}")]
    Connect { address: String, source: io::Error },
    /// The request is larger than a frame may be; nothing was sent.
    #[error(transparent)]
    TooLarge(FrameError),
    /// No answer in time. `sent`: the request may have been delivered.
    #[error("no answer from {address} within {timeout:?}")]
    Timeout { address: String, timeout: Duration, sent: bool },
    /// The connection failed after the request was sent.
    #[error("connection to {address} failed: {detail}")]
    Broken { address: String, detail: String },
    /// The peer refused the request (another cluster or voter set).
    #[error("{address} refused the request: {reason}")]
    Refused { address: String, reason: String },
}

/// One connection to one peer, reconnected on demand.
pub(crate) struct PeerConnection {
    local: Arc<Local>,
    address: String,
    stream: Option<BufReader<TcpStream>>,
}

impl PeerConnection {
    pub(crate) fn new(local: Arc<Local>, address: String) -> PeerConnection {
        PeerConnection { local, address, stream: None }
    }

    /// Sends `body` and waits for the answer, all within `timeout`.
    ///
    /// # Errors
    /// [`CallError`]; the connection is dropped on every error.
    ///
    /// # Cancel safety
    /// Cancelling drops nothing but leaves a half-used connection; it is discarded on the
    /// next call only if it failed, so do not cancel calls (they are bounded anyway).
    pub(crate) async fn call(&mut self, body: Request, timeout: Duration) -> Result<Response, CallError> {
        let frame = RequestFrame { sender: self.local.sender.clone(), body };
        let bytes = encode_frame(&frame, self.local.frame_bytes_max).map_err(CallError::TooLarge)?;
        let mut sent = false;
        let result = tokio::time::timeout(timeout, self.exchange(&bytes, &mut sent)).await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(_) => Err(CallError::Timeout { address: self.address.clone(), timeout, sent }),
        };
        if outcome.is_err() {
            self.stream = None;
        }
        outcome
    }

    async fn exchange(&mut self, frame: &[u8], sent: &mut bool) -> Result<Response, CallError> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let tcp = TcpStream::connect(&self.address)
                    .await
                    .map_err(|source| CallError::Connect { address: self.address.clone(), source })?;
                // Raft heartbeats are small and latency-bound.
                let _ = tcp.set_nodelay(true);
                self.stream.insert(BufReader::new(tcp))
            }
        };
        *sent = true;
        let broken = |e: FrameError| CallError::Broken { address: self.address.clone(), detail: e.to_string() };
        write_frame(stream.get_mut(), frame).await.map_err(broken)?;
        let response: Option<Response> = read_frame(stream, self.local.frame_bytes_max).await.map_err(broken)?;
        match response {
            Some(Response::Refused(reason)) => Err(CallError::Refused { address: self.address.clone(), reason }),
            Some(response) => Ok(response),
            None => Err(CallError::Broken { address: self.address.clone(), detail: "closed without an answer".into() }),
        }
    }
}

/// openraft's factory of per-peer clients.
pub(crate) struct Network {
    pub local: Arc<Local>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        let target_id = node_id(target);
        let address = self.local.voters.get(&target_id).cloned().unwrap_or_else(|| node.addr.clone());
        PeerClient { target, connection: PeerConnection::new(self.local.clone(), address), reachable: true }
    }
}

/// The Raft RPCs to one peer.
pub(crate) struct PeerClient {
    target: u64,
    connection: PeerConnection,
    /// Whether the last call got through; a change is logged once, not every retry.
    reachable: bool,
}

type RpcError<E = openraft::error::Infallible> = RPCError<u64, BasicNode, RaftError<u64, E>>;

impl PeerClient {
    /// One call, logging when the peer becomes unreachable or reachable again.
    async fn call(&mut self, body: Request, timeout: Duration) -> Result<Response, CallError> {
        let result = self.connection.call(body, timeout).await;
        match &result {
            Ok(_) if !self.reachable => {
                tracing::info!(peer = self.target, address = %self.connection.address, "controller peer reachable again");
                self.reachable = true;
            }
            Err(CallError::Refused { .. }) => {
                tracing::error!(
                    peer = self.target,
                    "{}: check the cluster id and controller.quorum.voters of both nodes",
                    result.as_ref().err().map(ToString::to_string).unwrap_or_default()
                );
                self.reachable = false;
            }
            Err(e) if self.reachable => {
                tracing::warn!(peer = self.target, "controller peer unreachable: {e}");
                self.reachable = false;
            }
            _ => {}
        }
        result
    }

    fn rpc_error<E: std::error::Error>(error: CallError) -> RpcError<E> {
        match error {
            CallError::Connect { source, .. } => RPCError::Unreachable(Unreachable::new(&source)),
            refused @ CallError::Refused { .. } => RPCError::Unreachable(Unreachable::new(&refused)),
            other => RPCError::Network(NetworkError::new(&other)),
        }
    }

    fn unexpected<E: std::error::Error>(&self, response: &Response) -> RpcError<E> {
        let detail = format!("unexpected answer from node {}: {}", self.target, response_kind(response));
        RPCError::Network(NetworkError::new(&io::Error::new(io::ErrorKind::InvalidData, detail)))
    }

    fn timeout(&self, option: &RPCOption) -> Duration {
        option.hard_ttl().min(self.connection.local.rpc_timeout).max(Duration::from_millis(1))
    }
}

fn response_kind(response: &Response) -> &'static str {
    match response {
        Response::AppendEntries(_) => "AppendEntries",
        Response::Vote(_) => "Vote",
        Response::InstallSnapshot(_) => "InstallSnapshot",
        Response::Forward(_) => "Forward",
        Response::AddLearner(_) => "AddLearner",
        Response::Refused(_) => "Refused",
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError> {
        let entries = rpc.entries.len() as u64;
        let timeout = self.timeout(&option);
        match self.call(Request::AppendEntries(rpc), timeout).await {
            Ok(Response::AppendEntries(Ok(response))) => Ok(response),
            Ok(Response::AppendEntries(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(other) => Err(self.unexpected(&other)),
            // Too many entries for one frame (found before sending): ask for fewer.
            Err(CallError::TooLarge(_)) if entries > 1 => {
                Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(entries / 2)))
            }
            Err(e) => Err(Self::rpc_error(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RpcError<InstallSnapshotError>> {
        // Snapshot chunks get the configured snapshot timeout, not the short RPC one.
        let timeout = option.hard_ttl().max(Duration::from_millis(1));
        match self.call(Request::InstallSnapshot(rpc), timeout).await {
            Ok(Response::InstallSnapshot(Ok(response))) => Ok(response),
            Ok(Response::InstallSnapshot(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(other) => Err(self.unexpected(&other)),
            Err(e) => Err(Self::rpc_error(e)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Result<VoteResponse<u64>, RpcError> {
        let timeout = self.timeout(&option);
        match self.call(Request::Vote(rpc), timeout).await {
            Ok(Response::Vote(Ok(response))) => Ok(response),
            Ok(Response::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            Ok(other) => Err(self.unexpected(&other)),
            Err(e) => Err(Self::rpc_error(e)),
        }
    }
}
