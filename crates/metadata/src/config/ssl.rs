//! The TLS settings of SSL listeners (`ssl.*`), as the broker reads them at startup.
//!
//! Spool reads PEM only: a key store is a PEM file (or inline PEM) holding the private key
//! and the certificate chain, a trust store the certificates of the authorities whose
//! client certificates are trusted. Kafka's JKS and PKCS12 stores, encrypted private keys
//! and TLS between brokers are refused at startup with what to do instead.

use std::path::PathBuf;

use super::broker_defs::SSL_CLIENT_AUTH;
use super::{BrokerConfig, ConfigError};

/// Where PEM text comes from: a file, or the config value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A PEM file (`ssl.keystore.location`, `ssl.truststore.location`).
    File(PathBuf),
    /// PEM text in the config (`ssl.keystore.certificate.chain` and `ssl.keystore.key`
    /// joined, `ssl.truststore.certificates`).
    Inline(String),
}

/// Whether an SSL listener asks clients for a certificate (`ssl.client.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// Asked for; checked against the trust store when the client sends one.
    Requested,
    /// The handshake fails without a certificate the trust store's authorities signed.
    Required,
}

/// What an SSL listener needs to accept TLS connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// The broker's private key and certificate chain.
    pub keystore: PemSource,
    /// The authorities of client certificates; present whenever `client_auth` is not `None`.
    pub truststore: Option<PemSource>,
    /// Whether clients are asked for a certificate.
    pub client_auth: ClientAuth,
    /// The TLS versions accepted: a subset of `TLSv1.2`, `TLSv1.3`, never empty.
    pub enabled_protocols: Vec<String>,
}

impl BrokerConfig {
    /// The TLS settings of the SSL (or SASL_SSL) listener `listener` (its
    /// `listener.name.<listener>.ssl.*` configs, else the broker's), or why they are
    /// unusable (no key store, an encrypted key, client authentication without a trust
    /// store).
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`] naming the configs and what to set.
    pub fn ssl_settings(&self, listener: &str) -> Result<SslSettings, ConfigError> {
        let fail =
            |keys: &[&'static str], reason: String| Err(ConfigError::Inconsistent { keys: keys.to_vec(), reason });
        if self.listener_is_set(listener, "ssl.keystore.password") {
            return fail(
                &["ssl.keystore.password"],
                "ssl.keystore.password protects JKS and PKCS12 key stores; a PEM key store has none, so remove it".into(),
            );
        }
        if self.listener_is_set(listener, "ssl.key.password") {
            return fail(
                &["ssl.key.password"],
                "Spool reads unencrypted PEM private keys only; decrypt the key (openssl pkey -in key.pem -out \
                 plain-key.pem), keep the file readable by the broker alone, and remove ssl.key.password"
                    .into(),
            );
        }
        let location = self.listener_string(listener, "ssl.keystore.location");
        let chain = self.listener_password(listener, "ssl.keystore.certificate.chain");
        let key = self.listener_password(listener, "ssl.keystore.key");
        let keystore = match (location, chain, key) {
            (Some(path), None, None) => PemSource::File(PathBuf::from(path)),
            (None, Some(chain), Some(key)) => PemSource::Inline(format!("{chain}\n{key}\n")),
            (None, None, None) => {
                return fail(
                    &["ssl.keystore.location"],
                    "an SSL listener needs the broker's private key and certificate: set ssl.keystore.location to a \
                     PEM file holding both (or ssl.keystore.certificate.chain and ssl.keystore.key to the PEM text)"
                        .into(),
                )
            }
            (Some(_), _, _) => {
                return fail(
                    &["ssl.keystore.location", "ssl.keystore.certificate.chain", "ssl.keystore.key"],
                    "set either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both"
                        .into(),
                )
            }
            (None, _, _) => {
                return fail(
                    &["ssl.keystore.certificate.chain", "ssl.keystore.key"],
                    "ssl.keystore.certificate.chain and ssl.keystore.key go together: set both".into(),
                )
            }
        };
        let truststore = match (self.listener_string(listener, "ssl.truststore.location"), self.listener_password(listener, "ssl.truststore.certificates")) {
            (Some(_), Some(_)) => {
                return fail(
                    &["ssl.truststore.location", "ssl.truststore.certificates"],
                    "set either ssl.truststore.location or ssl.truststore.certificates, not both".into(),
                )
            }
            (Some(path), None) => Some(PemSource::File(PathBuf::from(path))),
            (None, Some(certificates)) => Some(PemSource::Inline(certificates)),
            (None, None) => None,
        };
        let client_auth = match self.listener_string(listener, "ssl.client.auth").as_deref() {
            Some("required") => ClientAuth::Required,
            Some("requested") => ClientAuth::Requested,
            Some("none") | None => ClientAuth::None,
            Some(other) => unreachable!("validated against {SSL_CLIENT_AUTH:?}: {other}"),
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return fail(
                &["ssl.client.auth", "ssl.truststore.location"],
                "ssl.client.auth asks clients for certificates, which need authorities to check them against: set \
                 ssl.truststore.location to a PEM file of their certificates (or ssl.truststore.certificates)"
                    .into(),
            );
        }
        let enabled_protocols = self.listener_list(listener, "ssl.enabled.protocols");
        if enabled_protocols.is_empty() {
            return fail(&["ssl.enabled.protocols"], "ssl.enabled.protocols is empty: list TLSv1.2, TLSv1.3 or both".into());
        }
        Ok(SslSettings { keystore, truststore, client_auth, enabled_protocols })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(lines: &str) -> BrokerConfig {
        BrokerConfig::from_properties(lines).expect("valid properties")
    }

    #[test]
    fn a_key_store_file_or_inline_pem_is_read_with_no_client_auth_by_default() {
        let c = config("ssl.keystore.location=/etc/spool/broker.pem\n");
        let s = c.ssl_settings("SSL").expect("usable");
        assert_eq!(s.keystore, PemSource::File("/etc/spool/broker.pem".into()));
        assert_eq!((s.client_auth, s.truststore), (ClientAuth::None, None));
        assert_eq!(s.enabled_protocols, ["TLSv1.2", "TLSv1.3"]);

        let c = config("ssl.keystore.certificate.chain=CHAIN\nssl.keystore.key=KEY\nssl.enabled.protocols=TLSv1.3\n");
        let s = c.ssl_settings("SSL").expect("usable");
        assert_eq!(s.keystore, PemSource::Inline("CHAIN\nKEY\n".into()));
        assert_eq!(s.enabled_protocols, ["TLSv1.3"]);
    }

    #[test]
    fn client_auth_needs_a_trust_store() {
        let e = config("ssl.keystore.location=k.pem\nssl.client.auth=required\n").ssl_settings("SSL").unwrap_err();
        assert!(e.to_string().contains("set ssl.truststore.location"), "{e}");
        let s = config("ssl.keystore.location=k.pem\nssl.client.auth=requested\nssl.truststore.location=ca.pem\n")
            .ssl_settings("SSL")
            .expect("usable");
        assert_eq!(s.client_auth, ClientAuth::Requested);
        assert_eq!(s.truststore, Some(PemSource::File("ca.pem".into())));
    }

    #[test]
    fn what_spool_cannot_read_is_refused_with_the_way_out() {
        let cases = [
            ("", "set ssl.keystore.location"),
            ("ssl.keystore.location=k.pem\nssl.key.password=secret\n", "openssl pkey"),
            ("ssl.keystore.location=k.pem\nssl.keystore.password=secret\n", "a PEM key store has none"),
            ("ssl.keystore.certificate.chain=CHAIN\n", "go together"),
            ("ssl.keystore.location=k.pem\nssl.keystore.key=KEY\n", "not both"),
            ("ssl.keystore.location=k.pem\nssl.truststore.location=a\nssl.truststore.certificates=b\n", "not both"),
        ];
        for (lines, expected) in cases {
            let e = config(lines).ssl_settings("SSL").unwrap_err();
            assert!(e.to_string().contains(expected), "{lines:?}: {e}");
        }
        let e = BrokerConfig::from_properties("ssl.keystore.type=JKS\n").unwrap_err();
        assert!(e.to_string().contains("Spool reads PEM stores only, not JKS"), "{e}");
        let e = BrokerConfig::from_properties("ssl.enabled.protocols=TLSv1.1\n").unwrap_err();
        assert!(e.to_string().contains("TLSv1.1"), "{e}");
    }
}
