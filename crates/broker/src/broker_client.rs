//! A minimal Kafka client for broker-to-broker requests (replica fetches).
//!
//! One request at a time per connection; every call is bounded by a timeout and a
//! response size limit, so a stuck or hostile peer cannot hang or flood a fetcher.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use spool_protocol::frame::take_frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a broker-to-broker call failed. The caller backs off and reconnects.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("I/O with {addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("{addr} did not answer within {timeout_ms} ms")]
    Timeout { addr: String, timeout_ms: u128 },
    #[error("bad response from {addr}: {reason}")]
    Protocol { addr: String, reason: String },
}

/// One connection to another broker's Kafka listener.
pub(crate) struct BrokerConnection {
    addr: String,
    stream: TcpStream,
    client_id: String,
    next_correlation_id: i32,
    input: BytesMut,
    max_response_bytes: usize,
}

impl BrokerConnection {
    /// Connects within `timeout`.
    ///
    /// # Errors
    /// [`ClientError::Connect`] or [`ClientError::Timeout`].
    pub(crate) async fn connect(addr: &str, client_id: String, timeout: Duration, max_response_bytes: usize) -> Result<Self, ClientError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => return Err(ClientError::Connect { addr: addr.to_string(), source }),
            Err(_) => return Err(ClientError::Timeout { addr: addr.to_string(), timeout_ms: timeout.as_millis() }),
        };
        let _ = stream.set_nodelay(true);
        Ok(BrokerConnection {
            addr: addr.to_string(),
            stream,
            client_id,
            next_correlation_id: 0,
            input: BytesMut::with_capacity(64 * 1024),
            max_response_bytes,
        })
    }

    /// Sends one request and waits for its response.
    ///
    /// # Errors
    /// Any [`ClientError`]; the connection should then be dropped.
    pub(crate) async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let protocol = |reason: String| ClientError::Protocol { addr: self.addr.clone(), reason };
        let mut out = BytesMut::new();
        out.extend_from_slice(&[0, 0, 0, 0]);
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        header.encode(&mut out, api_key.request_header_version(version)).map_err(|e| protocol(e.to_string()))?;
        request.encode(&mut out, version).map_err(|e| protocol(e.to_string()))?;
        let size = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&size.to_be_bytes());

        let addr = self.addr.clone();
        let exchange = async {
            self.stream.write_all(&out).await.map_err(|source| ClientError::Io { addr: addr.clone(), source })?;
            loop {
                match take_frame(&mut self.input, self.max_response_bytes) {
                    Ok(Some(frame)) => return Ok(frame),
                    Ok(None) => {}
                    Err(e) => return Err(ClientError::Protocol { addr: addr.clone(), reason: e.to_string() }),
                }
                let read = self.stream.read_buf(&mut self.input).await.map_err(|source| ClientError::Io { addr: addr.clone(), source })?;
                if read == 0 {
                    let source = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
                    return Err(ClientError::Io { addr: addr.clone(), source });
                }
            }
        };
        let frame = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout { addr, timeout_ms: timeout.as_millis() }),
        };
        let mut body = frame.freeze();
        let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
            .map_err(|e| ClientError::Protocol { addr: self.addr.clone(), reason: e.to_string() })?;
        if header.correlation_id != correlation_id {
            return Err(ClientError::Protocol {
                addr: self.addr.clone(),
                reason: format!("correlation id {} for request {correlation_id}", header.correlation_id),
            });
        }
        let response = Resp::decode(&mut body, version)
            .map_err(|e| ClientError::Protocol { addr: self.addr.clone(), reason: e.to_string() })?;
        if body.has_remaining() {
            tracing::debug!(addr = %self.addr, "{} unread bytes after {api_key:?} response", body.remaining());
        }
        Ok(response)
    }
}
