//! The controller listener's wire format: length-prefixed JSON frames.
//!
//! ```text
//! +----------------+------------------------------+
//! | length: u32 BE | JSON: RequestFrame | Response |
//! +----------------+------------------------------+
//! ```
//! A connection carries one request at a time, each followed by its response. Every
//! request names the sender's cluster id and voter ids; a node answers a request from
//! another cluster or another voter set with [`Response::Refused`] and closes the
//! connection, so misconfigured nodes never count towards each other's majorities.
//! The length is checked against the frame limit before anything is allocated; a frame
//! that is too long or not valid JSON closes the connection.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spool_metadata::controller::{ControllerReply, ControllerRequest};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::SubmitError;
use crate::raft_types::TypeConfig;

/// Who sends a request: checked by the receiver before it acts on the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sender {
    pub cluster_id: String,
    pub node_id: i32,
    /// Sorted voter ids of the sender's configuration.
    pub voters: Vec<i32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RequestFrame {
    pub sender: Sender,
    pub body: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Run a controller request on the leader; `timeout_ms` is the sender's remaining budget.
    Forward { request: ControllerRequest, timeout_ms: u64 },
    /// Add the sender as a learner reachable at `address` (sent to the leader).
    AddLearner { node_id: i32, address: String },
}

/// The leader's answer to a forwarded request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Forwarded {
    pub reply: ControllerReply,
    /// Wait for this index to be applied locally before answering the caller: the
    /// request's entry, or the leader's read index when it wrote nothing.
    pub applied_index: Option<u64>,
}

/// Why a leader did not add a learner.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub(crate) enum JoinRefusal {
    #[error("not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<i32> },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Forward(Result<Forwarded, SubmitError>),
    AddLearner(Result<(), JoinRefusal>),
    /// The request was not acted on; the connection closes.
    Refused(String),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("frame of {size_bytes} bytes exceeds the limit of {limit_bytes}")]
    TooLarge { size_bytes: usize, limit_bytes: usize },
    #[error("undecodable frame: {0}")]
    Decode(String),
}

/// Encodes `value` as one frame (length prefix included).
///
/// # Errors
/// [`FrameError::TooLarge`] when it exceeds `limit_bytes`; [`FrameError::Decode`] when
/// it cannot be encoded.
pub(crate) fn encode_frame<T: Serialize>(value: &T, limit_bytes: usize) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; 4];
    serde_json::to_writer(&mut frame, value).map_err(|e| FrameError::Decode(e.to_string()))?;
    let size_bytes = frame.len() - 4;
    if size_bytes > limit_bytes || u32::try_from(size_bytes).is_err() {
        return Err(FrameError::TooLarge { size_bytes, limit_bytes });
    }
    frame[..4].copy_from_slice(&(size_bytes as u32).to_be_bytes());
    Ok(frame)
}

/// Writes an encoded frame.
///
/// # Errors
/// I/O errors.
///
/// # Cancel safety
/// Not cancel safe: a cancelled write leaves a partial frame; drop the connection.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> Result<(), FrameError> {
    writer.write_all(frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame; `None` at a clean end of stream before a frame starts.
///
/// # Errors
/// [`FrameError::TooLarge`] before reading the body of an oversized frame;
/// [`FrameError::Decode`]; I/O errors (a stream ending inside a frame included).
///
/// # Cancel safety
/// Not cancel safe: a cancelled read leaves the stream inside a frame; drop the connection.
pub(crate) async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    reader: &mut R,
    limit_bytes: usize,
) -> Result<Option<T>, FrameError> {
    let mut length = [0u8; 4];
    let first = reader.read(&mut length[..1]).await?;
    if first == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut length[1..]).await?;
    let size_bytes = u32::from_be_bytes(length) as usize;
    if size_bytes > limit_bytes {
        return Err(FrameError::TooLarge { size_bytes, limit_bytes });
    }
    let mut body = vec![0u8; size_bytes];
    reader.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map(Some).map_err(|e| FrameError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let frame = RequestFrame {
            sender: Sender { cluster_id: "c".into(), node_id: 1, voters: vec![1, 2] },
            body: Request::AddLearner { node_id: 4, address: "h:1".into() },
        };
        let bytes = encode_frame(&frame, 1024).unwrap();
        let mut reader = &bytes[..];
        let decoded: RequestFrame = read_frame(&mut reader, 1024).await.unwrap().unwrap();
        assert_eq!(decoded.sender, frame.sender);
        assert!(matches!(decoded.body, Request::AddLearner { node_id: 4, .. }));
        let mut empty: &[u8] = &[];
        assert!(read_frame::<_, RequestFrame>(&mut empty, 1024).await.unwrap().is_none());

        assert!(matches!(encode_frame(&frame, 10), Err(FrameError::TooLarge { .. })));
        // A huge declared length is refused before any allocation.
        let mut huge: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(read_frame::<_, RequestFrame>(&mut huge, 1024).await, Err(FrameError::TooLarge { .. })));
        let mut garbage: &[u8] = &[0, 0, 0, 2, b'{', b'x'];
        assert!(matches!(read_frame::<_, RequestFrame>(&mut garbage, 1024).await, Err(FrameError::Decode(_))));
        let mut torn: &[u8] = &[0, 0, 0, 9, b'{'];
        assert!(matches!(read_frame::<_, RequestFrame>(&mut torn, 1024).await, Err(FrameError::Io(_))));
    }
}
