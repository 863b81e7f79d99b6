//! SASL/PLAIN authentication of connections on SASL listeners, as Kafka's
//! `SaslServerAuthenticator` does it with SaslHandshake v1 and SaslAuthenticate.
//!
//! ```text
//! ApiVersions ─► answered as usual (a client asks before it authenticates)
//! SaslHandshake(PLAIN) ─► mechanisms [PLAIN]; another mechanism: UNSUPPORTED_SASL_MECHANISM, closed
//! SaslAuthenticate([authzid] NUL user NUL password) ─► authenticated as user, or
//!                                                     SASL_AUTHENTICATION_FAILED, closed
//! anything else before that ─► the connection is closed
//! ```
//!
//! After a SaslHandshake v0 (clients before Kafka 1.0), the token comes as a bare
//! length-prefixed frame instead of a SaslAuthenticate request, and is answered with an
//! empty one; a failed one closes the connection.
//!
//! An authenticated connection's user is its principal, which client quotas are looked
//! up by. A connection already authenticated that sends SaslHandshake again is answered
//! ILLEGAL_SASL_STATE, as Kafka answers it without re-authentication (KIP-368).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use spool_metadata::config::SaslSettings;
use spool_protocol::header::{decode_request_header, encode_response, peek_prefix};
use spool_protocol::versions;

use crate::broker::Broker;

/// The one mechanism Spool has.
const PLAIN: &str = "PLAIN";

const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const ILLEGAL_SASL_STATE: i16 = 34;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The users a SASL listener accepts and their passwords.
pub(crate) struct PlainUsers {
    users: BTreeMap<String, String>,
}

impl PlainUsers {
    pub(crate) fn new(settings: SaslSettings) -> PlainUsers {
        PlainUsers { users: settings.users }
    }

    /// The user a PLAIN token (`[authzid] NUL authcid NUL passwd`, RFC 4616) names, if
    /// its password is that user's. As Kafka, an authorization id other than the user
    /// is refused.
    fn authenticate(&self, token: &[u8]) -> Result<String, &'static str> {
        let mut parts = token.split(|b| *b == 0);
        let (Some(authzid), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("Invalid SASL/PLAIN response: expected 3 tokens");
        };
        let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password)) else {
            return Err("Authentication failed: Invalid username or password");
        };
        if !authzid.is_empty() && authzid != user.as_bytes() {
            return Err("Authentication failed: Client requested an authorization id that is different from username");
        }
        match self.users.get(user) {
            Some(expected) if same_bytes(expected.as_bytes(), password.as_bytes()) => Ok(user.to_string()),
            _ => Err("Authentication failed: Invalid username or password"),
        }
    }
}

/// Compares in time that depends on the lengths only, not on where the bytes differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// What a connection on a SASL listener is waiting for in its authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SaslState {
    /// Nothing but ApiVersions and SaslHandshake is served.
    #[default]
    Handshake,
    /// PLAIN was chosen; the next request must be SaslAuthenticate.
    Token,
    /// PLAIN was chosen by a SaslHandshake v0: the next frame is the bare token.
    RawToken,
}

/// What the connection does with a request frame while not authenticated.
#[derive(Debug)]
pub(crate) enum SaslStep {
    /// Not part of the authentication (ApiVersions): handle it as usual.
    Dispatch,
    /// The response is in the output buffer; authentication goes on.
    Respond,
    /// The response is in the output buffer; the connection is now this user's.
    Authenticated(String),
    /// Send the response in the output buffer, then close: the client failed.
    RespondAndClose(String),
    /// Close without a response.
    Close(String),
}

/// Takes one request frame of a connection that has not authenticated yet.
pub(crate) fn step(users: &PlainUsers, state: &mut SaslState, frame: &Bytes, out: &mut BytesMut) -> SaslStep {
    if *state == SaslState::RawToken {
        return match users.authenticate(frame) {
            Ok(user) => {
                out.extend_from_slice(&0i32.to_be_bytes());
                SaslStep::Authenticated(user)
            }
            Err(message) => SaslStep::Close(format!("failed SASL authentication ({message})")),
        };
    }
    let prefix = match peek_prefix(frame) {
        Ok(prefix) => prefix,
        Err(e) => return SaslStep::Close(e.to_string()),
    };
    let api_key = ApiKey::try_from(prefix.api_key).ok();
    let version = prefix.api_version;
    let api_key = match (api_key, *state) {
        (Some(ApiKey::ApiVersions), _) => return SaslStep::Dispatch,
        (Some(key @ ApiKey::SaslHandshake), SaslState::Handshake) | (Some(key @ ApiKey::SaslAuthenticate), SaslState::Token) => key,
        (Some(key), _) => return SaslStep::Close(format!("{key:?} request before SASL authentication completed")),
        (None, _) => return SaslStep::Close(format!("unknown API key {} before SASL authentication", prefix.api_key)),
    };
    if !versions::is_supported(api_key, version) {
        return SaslStep::Close(format!("{api_key:?} v{version} is not supported"));
    }
    let mut body = frame.clone();
    let header = match decode_request_header(&mut body, api_key, version) {
        Ok(header) => header,
        Err(e) => return SaslStep::Close(e.to_string()),
    };
    let encoded = if api_key == ApiKey::SaslHandshake {
        let request = match SaslHandshakeRequest::decode(&mut body, version) {
            Ok(request) => request,
            Err(e) => return SaslStep::Close(format!("malformed SaslHandshake v{version} request: {e}")),
        };
        let chosen = request.mechanism.as_str() == PLAIN;
        let response = SaslHandshakeResponse::default()
            .with_error_code(if chosen { 0 } else { UNSUPPORTED_SASL_MECHANISM })
            .with_mechanisms(vec![StrBytes::from_static_str(PLAIN)]);
        let encoded = encode_response(out, api_key, version, header.correlation_id, &response);
        if !chosen {
            return match encoded {
                Ok(()) => SaslStep::RespondAndClose(format!(
                    "SASL mechanism {} is not enabled (only PLAIN is)",
                    request.mechanism.as_str()
                )),
                Err(e) => SaslStep::Close(e),
            };
        }
        *state = if version == 0 { SaslState::RawToken } else { SaslState::Token };
        encoded.map(|()| SaslStep::Respond)
    } else {
        let request = match SaslAuthenticateRequest::decode(&mut body, version) {
            Ok(request) => request,
            Err(e) => return SaslStep::Close(format!("malformed SaslAuthenticate v{version} request: {e}")),
        };
        let outcome = users.authenticate(&request.auth_bytes);
        let response = match &outcome {
            Ok(_) => SaslAuthenticateResponse::default(),
            Err(message) => SaslAuthenticateResponse::default()
                .with_error_code(SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(StrBytes::from_static_str(message))),
        };
        encode_response(out, api_key, version, header.correlation_id, &response).map(|()| match outcome {
            Ok(user) => SaslStep::Authenticated(user),
            Err(message) => SaslStep::RespondAndClose(message.to_string()),
        })
    };
    encoded.unwrap_or_else(SaslStep::Close)
}

/// SaslHandshake on a connection that needs none (authenticated, or not on a SASL
/// listener): ILLEGAL_SASL_STATE, as Kafka's request handler answers it.
pub(crate) async fn handshake_out_of_place(
    _broker: &Arc<Broker>,
    _header: &RequestHeader,
    _request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ILLEGAL_SASL_STATE)
}

/// SaslAuthenticate out of place: ILLEGAL_SASL_STATE, as Kafka answers it.
pub(crate) async fn authenticate_out_of_place(
    _broker: &Arc<Broker>,
    _header: &RequestHeader,
    _request: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default().with_error_code(ILLEGAL_SASL_STATE).with_error_message(Some(
        StrBytes::from_static_str("Unexpected SaslAuthenticate request: the connection needs no SASL authentication"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> PlainUsers {
        PlainUsers { users: BTreeMap::from([("alice".to_string(), "alice-secret".to_string())]) }
    }

    #[test]
    fn a_plain_token_authenticates_its_user_with_the_right_password_only() {
        let users = users();
        assert_eq!(users.authenticate(b"\0alice\0alice-secret"), Ok("alice".to_string()));
        assert_eq!(users.authenticate(b"alice\0alice\0alice-secret"), Ok("alice".to_string()));
        for bad in [&b"\0alice\0wrong"[..], b"\0alice\0alice-secre", b"\0bob\0alice-secret", b"\0alice\0"] {
            assert_eq!(users.authenticate(bad), Err("Authentication failed: Invalid username or password"), "{bad:?}");
        }
        assert!(users.authenticate(b"bob\0alice\0alice-secret").unwrap_err().contains("authorization id"));
        assert!(users.authenticate(b"alice-secret").unwrap_err().contains("expected 3 tokens"));
        assert!(users.authenticate(b"\0alice\0alice-secret\0x").unwrap_err().contains("expected 3 tokens"));
    }
}
