//! Security for the admin tools' own client: the `--command-config` properties a Java
//! admin client would take for `security.protocol=SSL`, `SASL_PLAINTEXT` or `SASL_SSL`,
//! read into a rustls client config and SASL/PLAIN credentials (from `sasl.jaas.config`'s
//! PlainLoginModule `username` and `password`).
//!
//! Stores are PEM, as on the broker (Kafka's `ssl.truststore.type=PEM`,
//! `ssl.keystore.type=PEM`); without a trust store the system's authorities are trusted,
//! as Java trusts its own. `ssl.endpoint.identification.algorithm=` (empty) turns the
//! host name check off, as in Kafka.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};
use spool_broker::tls::{certificates, private_key, protocol_versions, read_pem, root_store};
use spool_metadata::config::{broker_config_def, parse_jaas, PemSource, PLAIN_LOGIN_MODULE};

/// How the admin client reaches brokers: over TLS with this configuration or not, then
/// authenticating with SASL/PLAIN or not.
#[derive(Clone, Default)]
pub(crate) struct ClientSecurity {
    tls: Option<Arc<ClientConfig>>,
    /// The SASL/PLAIN user and password.
    pub(crate) sasl: Option<(String, String)>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (&self.tls, &self.sasl) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        })
    }
}

/// Whether [`ClientSecurity::from_properties`] reads the property `key` (the others of a
/// command config are not used): the protocol, the SASL mechanism and user, and the
/// `ssl.*` configs that Spool knows (the broker's names are the clients').
pub(crate) fn is_security_property(key: &str) -> bool {
    matches!(key, "security.protocol" | "sasl.mechanism" | "sasl.jaas.config")
        || (key.starts_with("ssl.") && broker_config_def(key).is_some())
}

impl ClientSecurity {
    /// The security of a tool's `--command-config` properties (`origin` names the file).
    ///
    /// # Errors
    /// A SASL mechanism other than PLAIN or a JAAS config without its user, a store that
    /// is not PEM or cannot be read, an encrypted key.
    pub(crate) fn from_properties(properties: &[(String, String)], origin: &Path) -> Result<ClientSecurity> {
        let get = |key: &str| properties.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim().to_string());
        let in_file = |what: String| format!("{what} (in {})", origin.display());
        let (tls, sasl) = match get("security.protocol").unwrap_or_else(|| "PLAINTEXT".into()).to_uppercase().as_str() {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => bail!(in_file(format!(
                "security.protocol {other} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            ))),
        };
        let sasl = if sasl { Some(plain_credentials(&get, &in_file)?) } else { None };
        if !tls {
            return Ok(ClientSecurity { tls: None, sasl });
        }
        for key in ["ssl.truststore.type", "ssl.keystore.type"] {
            if let Some(kind) = get(key).filter(|t| t != "PEM") {
                bail!(in_file(format!(
                    "{key}={kind}: Spool's tools read PEM stores only; export it to PEM (keytool -importkeystore \
                     -deststoretype PKCS12, then openssl pkcs12 -nodes) and set {key}=PEM"
                )));
            }
        }
        if get("ssl.key.password").is_some() {
            bail!(in_file(
                "ssl.key.password: Spool's tools read unencrypted PEM keys only; decrypt it with openssl pkey".into()
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
            (Some(path), _) => {
                root_store(&read_pem(&PemSource::File(PathBuf::from(path)), "ssl.truststore.location", "")?)?
            }
            (None, Some(text)) => root_store(&read_pem(&PemSource::Inline(text), "", "ssl.truststore.certificates")?)?,
            (None, None) => system_roots()?,
        };
        let versions = get("ssl.enabled.protocols")
            .unwrap_or_else(|| "TLSv1.2,TLSv1.3".into())
            .split(',')
            .map(|v| v.trim().to_string())
            .collect::<Vec<_>>();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&protocol_versions(&versions))
            .with_context(|| in_file("ssl.enabled.protocols names neither TLSv1.2 nor TLSv1.3".into()))?;
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .context("cannot check the brokers' certificates")?;
        let check_host = get("ssl.endpoint.identification.algorithm").is_none_or(|a| !a.is_empty());
        let builder = if check_host {
            builder.with_webpki_verifier(verifier)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
        };
        let keystore = match (get("ssl.keystore.location"), get("ssl.keystore.certificate.chain"), get("ssl.keystore.key")) {
            (Some(path), _, _) => {
                Some(read_pem(&PemSource::File(PathBuf::from(path)), "ssl.keystore.location", "")?)
            }
            (None, Some(chain), Some(key)) => {
                Some(read_pem(&PemSource::Inline(format!("{chain}\n{key}\n")), "", "ssl.keystore.certificate.chain")?)
            }
            (None, None, None) => None,
            (None, _, _) => bail!(in_file("ssl.keystore.certificate.chain and ssl.keystore.key go together".into())),
        };
        let config = match keystore {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let chain = certificates(&pem)?;
                if chain.is_empty() {
                    bail!("{} holds no certificate (a PEM 'CERTIFICATE' block)", pem.origin);
                }
                builder
                    .with_client_auth_cert(chain, private_key(&pem)?)
                    .with_context(|| format!("{}: the private key and certificate cannot be used together", pem.origin))?
            }
        };
        Ok(ClientSecurity { tls: Some(Arc::new(config)), sasl })
    }

    /// Opens the connection to `host` over `stream`: as it is, or after a TLS handshake.
    ///
    /// # Errors
    /// The handshake failed (the broker's certificate is not trusted, it is not a TLS
    /// listener), or `host` is not a valid server name.
    pub(crate) fn open(&self, stream: TcpStream, host: &str) -> Result<AdminStream> {
        let Some(config) = &self.tls else {
            return Ok(AdminStream::Plain(stream));
        };
        let name = ServerName::try_from(host.to_string()).map_err(|e| anyhow!("{host:?} is not a server name: {e}"))?;
        let connection = ClientConnection::new(config.clone(), name).context("cannot start TLS")?;
        let mut tls = StreamOwned::new(connection, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).map_err(|e| {
                let wrong_name = matches!(
                    e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
                    Some(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. }
                    ))
                );
                let hint = if wrong_name {
                    "the broker's certificate must name the host given in the bootstrap server, or set \
                     ssl.endpoint.identification.algorithm= (empty) to skip the check"
                } else {
                    "is it an SSL listener, and does ssl.truststore.location hold the authority of its certificate?"
                };
                anyhow!("TLS handshake failed: {e} ({hint})")
            })?;
        }
        Ok(AdminStream::Tls(Box::new(tls)))
    }
}

/// The user and password of `sasl.jaas.config`'s PlainLoginModule, for `sasl.mechanism`
/// PLAIN (the default here; Kafka's is GSSAPI, which Spool does not have).
fn plain_credentials(get: &dyn Fn(&str) -> Option<String>, in_file: &dyn Fn(String) -> String) -> Result<(String, String)> {
    if let Some(mechanism) = get("sasl.mechanism").filter(|m| m != "PLAIN") {
        bail!(in_file(format!("sasl.mechanism {mechanism} is not supported: Spool's tools speak SASL/PLAIN only")));
    }
    let Some(jaas) = get("sasl.jaas.config") else {
        bail!(in_file(format!(
            "SASL needs a user: set sasl.jaas.config={PLAIN_LOGIN_MODULE} required username=\"NAME\" password=\"PASSWORD\";"
        )));
    };
    let entry = parse_jaas(&jaas).map_err(|e| anyhow!(in_file(format!("sasl.jaas.config is malformed: {e}"))))?;
    if entry.module != PLAIN_LOGIN_MODULE {
        bail!(in_file(format!("sasl.jaas.config names {}; SASL/PLAIN needs {PLAIN_LOGIN_MODULE}", entry.module)));
    }
    match (entry.option("username"), entry.option("password")) {
        (Some(user), Some(password)) => Ok((user.to_string(), password.to_string())),
        _ => bail!(in_file("sasl.jaas.config needs both username=\"...\" and password=\"...\"".into())),
    }
}

/// The system's trusted authorities (as Java's default trust store).
fn system_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        bail!(
            "no trusted authorities: the system has none ({:?}); set ssl.truststore.location to a PEM file of the \
             authority that signed the brokers' certificates",
            found.errors
        );
    }
    Ok(roots)
}

/// A broker connection of the admin client.
pub(crate) enum AdminStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for AdminStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AdminStream::Plain(stream) => stream.read(buf),
            AdminStream::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for AdminStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AdminStream::Plain(stream) => stream.write(buf),
            AdminStream::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            AdminStream::Plain(stream) => stream.flush(),
            AdminStream::Tls(stream) => stream.flush(),
        }
    }
}

/// Kafka's `ssl.endpoint.identification.algorithm=` (empty): the certificate must chain
/// to a trusted authority, for any host name.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(lines: &[(&str, &str)]) -> Result<ClientSecurity> {
        let properties: Vec<(String, String)> = lines.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ClientSecurity::from_properties(&properties, Path::new("client.properties"))
    }

    #[test]
    fn plaintext_unless_the_properties_say_ssl() {
        assert!(security(&[]).expect("plaintext").tls.is_none());
        assert!(security(&[("security.protocol", "plaintext")]).expect("plaintext").tls.is_none());
    }

    #[test]
    fn sasl_plain_credentials_come_from_the_jaas_config() {
        let jaas = format!("{PLAIN_LOGIN_MODULE} required username=\"alice\" password=\"alice-secret\";");
        let s = security(&[("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", &jaas)])
            .expect("usable");
        assert_eq!(s.sasl, Some(("alice".to_string(), "alice-secret".to_string())));
        assert!(s.tls.is_none());
        assert_eq!(format!("{s:?}"), "SASL_PLAINTEXT", "Debug shows no password");
    }

    #[test]
    fn what_the_tools_cannot_use_is_refused_with_the_file_named() {
        let no_password = format!("{PLAIN_LOGIN_MODULE} required username=\"a\";");
        let cases = [
            (vec![("security.protocol", "SASL_SSL")], "SASL needs a user: set sasl.jaas.config="),
            (vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "SCRAM-SHA-256")], "SASL/PLAIN only"),
            (vec![("security.protocol", "SASL_PLAINTEXT"), ("sasl.jaas.config", no_password.as_str())], "needs both username"),
            (vec![("security.protocol", "TLS")], "not one of PLAINTEXT, SSL"),
            (vec![("security.protocol", "SSL"), ("ssl.keystore.type", "PKCS12")], "ssl.keystore.type=PKCS12"),
            (vec![("security.protocol", "SSL"), ("ssl.key.password", "x")], "openssl pkey"),
            (vec![("security.protocol", "SSL"), ("ssl.truststore.location", "/nonexistent/ca.pem")],
             "cannot read ssl.truststore.location /nonexistent/ca.pem"),
        ];
        for (lines, expected) in cases {
            let e = format!("{:#}", security(&lines).expect_err("refused"));
            assert!(e.contains(expected), "{lines:?}: {e}");
        }
    }
}
