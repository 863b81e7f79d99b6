//! Request and response headers.
//!
//! A request frame starts with `api_key: i16, api_version: i16, correlation_id: i32`
//! in every header version, so those three are read by hand first: even a request
//! whose key or version the broker does not know can be answered (or logged) with its
//! correlation id. The rest of the header (client id, tagged fields) depends on the
//! header version of that API and version and is decoded by `kafka-protocol`.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Why a request header could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("request frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("malformed request header: {0}")]
    Malformed(String),
}

/// The three fields every request header starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads the fixed prefix of a request frame without consuming it.
///
/// # Errors
/// [`HeaderError::TooShort`] when the frame has fewer than 8 bytes.
pub fn peek_prefix(frame: &[u8]) -> Result<RequestPrefix, HeaderError> {
    if frame.len() < 8 {
        return Err(HeaderError::TooShort(frame.len()));
    }
    Ok(RequestPrefix {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// Decodes the full request header of a known API key and version, leaving `frame`
/// positioned at the request body.
///
/// # Errors
/// [`HeaderError::Malformed`] when the header bytes do not parse.
pub fn decode_request_header(frame: &mut Bytes, api_key: ApiKey, api_version: i16) -> Result<RequestHeader, HeaderError> {
    let header_version = api_key.request_header_version(api_version);
    RequestHeader::decode(frame, header_version).map_err(|e| HeaderError::Malformed(e.to_string()))
}

/// Encodes a complete response frame (length prefix, response header, body) into `out`.
///
/// # Errors
/// Only when `body` cannot be encoded at `api_version`, which is a broker bug (the
/// version was checked against [`crate::versions`] before the request was handled).
pub fn encode_response<B: Encodable>(
    out: &mut BytesMut,
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &B,
) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(out, api_key.response_header_version(api_version))
        .map_err(|e| e.to_string())?;
    body.encode(out, api_version).map_err(|e| format!("{api_key:?} v{api_version}: {e}"))?;
    let size = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn prefix_and_flexible_header_decode() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(77)
            .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, ApiKey::Metadata.request_header_version(12)).unwrap();
        buf.extend_from_slice(b"body");
        let prefix = peek_prefix(&buf).unwrap();
        assert_eq!(prefix, RequestPrefix { api_key: 3, api_version: 12, correlation_id: 77 });
        let mut frame = buf.freeze();
        let decoded = decode_request_header(&mut frame, ApiKey::Metadata, 12).unwrap();
        assert_eq!(decoded.client_id.as_deref(), Some("rdkafka"));
        assert_eq!(&frame[..], b"body");
    }

    #[test]
    fn short_frame_is_an_error() {
        assert!(matches!(peek_prefix(&[0, 1, 2]), Err(HeaderError::TooShort(3))));
    }

    #[test]
    fn response_frame_has_length_and_correlation_id() {
        let mut out = BytesMut::new();
        encode_response(&mut out, ApiKey::ApiVersions, 0, 5, &ApiVersionsResponse::default()).unwrap();
        let size = i32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize;
        assert_eq!(size, out.len() - 4);
        assert_eq!(&out[4..8], &5i32.to_be_bytes());
    }
}
