//! TLS for SSL listeners: the acceptor built from the `ssl.*` configs, and the stream a
//! connection reads requests from and writes responses to, plain or encrypted. The PEM
//! helpers are public for the command-line tools' own TLS client.
//!
//! Spool reads PEM (see `spool_metadata::config::SslSettings`); the crypto is rustls with
//! the ring provider. A listener's acceptor is built once at startup, so a key store
//! that cannot be read stops the broker before it listens, with the file and the reason.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use spool_metadata::config::{ClientAuth, PemSource, SslSettings};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The TLS acceptor of SSL listeners.
///
/// # Errors
/// A store that cannot be read or holds no usable key or certificate, or a key that
/// does not match the certificate: the message names the config and the file.
pub(crate) fn acceptor(settings: &SslSettings) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let keystore = read_pem(&settings.keystore, "ssl.keystore.location", "ssl.keystore.certificate.chain")?;
    let chain = certificates(&keystore)?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate (a PEM 'CERTIFICATE' block): add the broker's certificate chain", keystore.origin);
    }
    let key = private_key(&keystore)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&protocol_versions(&settings.enabled_protocols))
        .context("ssl.enabled.protocols names no TLS version the crypto provider supports")?;
    let builder = match (settings.client_auth, &settings.truststore) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (client_auth, Some(truststore)) => {
            let truststore = read_pem(truststore, "ssl.truststore.location", "ssl.truststore.certificates")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(&truststore)?), provider);
            let verifier = if client_auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().context("cannot check client certificates")?)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .with_context(|| format!("{}: the private key and certificate cannot be used together", keystore.origin))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// PEM text and where it came from (a config and its file), for messages.
pub struct Pem {
    text: String,
    /// `ssl.keystore.location /etc/spool/broker.pem`, or the inline config's name.
    pub origin: String,
}

/// Reads the PEM text of a store; `location_key` and `inline_key` name its configs in
/// messages.
///
/// # Errors
/// The file cannot be read.
pub fn read_pem(source: &PemSource, location_key: &str, inline_key: &str) -> anyhow::Result<Pem> {
    match source {
        PemSource::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {location_key} {}", path.display()))?;
            Ok(Pem { text, origin: format!("{location_key} {}", path.display()) })
        }
        PemSource::Inline(text) => Ok(Pem { text: text.clone(), origin: inline_key.to_string() }),
    }
}

/// Every certificate of `pem`, in order (none if it has no `CERTIFICATE` block).
///
/// # Errors
/// A malformed certificate block.
pub fn certificates(pem: &Pem) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.text.as_bytes())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} holds a malformed certificate", pem.origin))
}

/// The first private key of `pem`.
///
/// # Errors
/// There is none, or it is malformed or encrypted.
pub fn private_key(pem: &Pem) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.text.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "{} holds no usable private key ({e}): add the unencrypted key as a PEM 'PRIVATE KEY', 'RSA PRIVATE KEY' \
             or 'EC PRIVATE KEY' block",
            pem.origin
        )
    })
}

/// The certificates of `pem` as trust anchors.
///
/// # Errors
/// None there, or one that cannot be an anchor.
pub fn root_store(pem: &Pem) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for authority in certificates(pem)? {
        roots.add(authority).with_context(|| format!("{} holds a certificate that cannot be a trust anchor", pem.origin))?;
    }
    if roots.is_empty() {
        anyhow::bail!("{} holds no certificate (a PEM 'CERTIFICATE' block): add the authorities' certificates", pem.origin);
    }
    Ok(roots)
}

/// The TLS versions named as Kafka names them (`TLSv1.2`, `TLSv1.3`); others are left out.
pub fn protocol_versions(names: &[String]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    names
        .iter()
        .filter_map(|name| match name.as_str() {
            "TLSv1.2" => Some(&rustls::version::TLS12),
            "TLSv1.3" => Some(&rustls::version::TLS13),
            _ => None,
        })
        .collect()
}

/// A client connection: plain TCP, or TLS over it on an SSL listener.
pub(crate) enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            ClientStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            ClientStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            ClientStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            ClientStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
