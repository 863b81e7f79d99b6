//! SASL for SASL_PLAINTEXT and SASL_SSL listeners: the PLAIN mechanism, its users given as
//! Kafka gives them, in a JAAS login module config.
//!
//! ```text
//! listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
//!     required user_admin="admin-secret" user_alice="alice-secret";
//! ```
//!
//! Each `user_NAME="PASSWORD"` option is a user; `username` and `password` are what a
//! broker would log in with to other brokers (Spool's brokers talk PLAINTEXT among
//! themselves, so they are accepted and unused). Spool also reads an unprefixed
//! `sasl.jaas.config` for every SASL listener without its own.

use std::collections::BTreeMap;

use super::{BrokerConfig, ConfigError};

/// The login module whose users Spool reads.
pub const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";

/// What a SASL listener needs to authenticate clients.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslSettings {
    /// Each user's password.
    pub users: BTreeMap<String, String>,
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the passwords.
        f.debug_struct("SaslSettings").field("users", &self.users.keys().collect::<Vec<_>>()).finish()
    }
}

/// One login module entry of a JAAS config: `CLASS FLAG key="value" ...;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module's class name.
    pub module: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// The options, in order.
    pub options: Vec<(String, String)>,
}

impl JaasEntry {
    /// The value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Parses a JAAS config value as Kafka's `sasl.jaas.config` takes it: one login module,
/// `CLASS FLAG key=value ... ;`, values quoted (with `\` escapes) or bare.
///
/// # Errors
/// What is malformed, in words.
pub fn parse_jaas(text: &str) -> Result<JaasEntry, String> {
    let mut chars = text.trim().chars().peekable();
    let word = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> String {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut out = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                break;
            }
            out.push(c);
            chars.next();
        }
        out
    };
    let module = word(&mut chars);
    if module.is_empty() {
        return Err("expected a login module class name, then a flag and options, ending with ';'".into());
    }
    let flag = word(&mut chars);
    if !matches!(flag.as_str(), "required" | "requisite" | "sufficient" | "optional") {
        return Err(format!("expected a flag (required, requisite, sufficient or optional) after {module}, got {flag:?}"));
    }
    let mut options = Vec::new();
    loop {
        let key = word(&mut chars);
        match chars.peek() {
            Some(';') if key.is_empty() => {
                chars.next();
                break;
            }
            Some('=') if !key.is_empty() => {
                chars.next();
            }
            None => return Err("the login module entry must end with ';'".into()),
            _ => return Err(format!("expected key=value or ';' after {module} {flag}, at {key:?}")),
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the value of {key} ends inside an escape")),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("the quoted value of {key} has no closing '\"'")),
                }
            }
            value
        } else {
            let value = word(&mut chars);
            if value.is_empty() {
                return Err(format!("{key} has no value"));
            }
            value
        };
        options.push((key, value));
    }
    if chars.any(|c| !c.is_whitespace()) {
        return Err("only one login module entry is read; remove what follows the first ';'".into());
    }
    Ok(JaasEntry { module, flag, options })
}

impl BrokerConfig {
    /// The users of the SASL listener `listener`, from its
    /// `listener.name.<listener>.plain.sasl.jaas.config`, else `sasl.jaas.config`.
    ///
    /// # Errors
    /// [`ConfigError::Inconsistent`]: no JAAS config, one Spool cannot read, no user.
    pub fn sasl_settings(&self, listener: &str) -> Result<SaslSettings, ConfigError> {
        let prefixed = format!("listener.name.{}.plain.sasl.jaas.config", listener.to_lowercase());
        let fail = |reason: String| {
            Err(ConfigError::Inconsistent { keys: vec!["sasl.jaas.config", "sasl.enabled.mechanisms"], reason })
        };
        let Some(jaas) = self.listener_password(listener, "sasl.jaas.config") else {
            return fail(format!(
                "SASL listener {listener} has no users: set {prefixed}={PLAIN_LOGIN_MODULE} required \
                 user_alice=\"alice-secret\"; (one user_NAME=\"PASSWORD\" per user)"
            ));
        };
        let entry = match parse_jaas(&jaas) {
            Ok(entry) => entry,
            Err(e) => return fail(format!("the JAAS config of SASL listener {listener} is malformed: {e}")),
        };
        if entry.module != PLAIN_LOGIN_MODULE {
            return fail(format!(
                "the JAAS config of SASL listener {listener} names {}; Spool has the PLAIN mechanism only, whose users \
                 {PLAIN_LOGIN_MODULE} lists",
                entry.module
            ));
        }
        let users: BTreeMap<String, String> = entry
            .options
            .iter()
            .filter_map(|(key, password)| key.strip_prefix("user_").map(|user| (user.to_string(), password.clone())))
            .collect();
        if users.is_empty() {
            return fail(format!(
                "the JAAS config of SASL listener {listener} lists no user: add user_NAME=\"PASSWORD\" for each"
            ));
        }
        Ok(SaslSettings { users })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jaas_entry_parses_as_kafka_writes_it() {
        let entry = parse_jaas(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \"quoted\" pass\\word" debug=true;"#,
        )
        .expect("valid");
        assert_eq!(entry.module, PLAIN_LOGIN_MODULE);
        assert_eq!(entry.flag, "required");
        assert_eq!(entry.option("user_alice"), Some(r#"a "quoted" pass\word"#));
        assert_eq!(entry.option("debug"), Some("true"));
        assert_eq!(entry.options.len(), 5);
    }

    #[test]
    fn malformed_jaas_says_what_is_wrong() {
        let cases = [
            ("", "expected a login module class name"),
            ("X", "expected a flag"),
            ("X required user_a=\"b\"", "must end with ';'"),
            ("X required user_a=\"b;", "no closing"),
            ("X required user_a=;", "has no value"),
            ("X required user_a=\"b\"; Y required;", "only one login module entry"),
            ("X required =\"b\";", "expected key=value"),
        ];
        for (text, expected) in cases {
            let e = parse_jaas(text).expect_err(text);
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    fn config(lines: &str) -> BrokerConfig {
        BrokerConfig::from_properties(lines).expect("valid properties")
    }

    #[test]
    fn users_come_from_the_listeners_own_jaas_config_before_the_global_one() {
        let c = config(&format!(
            "sasl.jaas.config={PLAIN_LOGIN_MODULE} required user_global=\"g\";\n\
             listener.name.external.plain.sasl.jaas.config={PLAIN_LOGIN_MODULE} required username=\"x\" password=\"y\" user_alice=\"a\" user_bob=\"b\";\n"
        ));
        let external = c.sasl_settings("EXTERNAL").expect("usable");
        assert_eq!(external.users, BTreeMap::from([("alice".into(), "a".into()), ("bob".into(), "b".into())]));
        assert!(!format!("{external:?}").contains("\"a\""), "Debug shows no password: {external:?}");
        let other = c.sasl_settings("INTERNAL").expect("usable");
        assert_eq!(other.users, BTreeMap::from([("global".into(), "g".into())]));
    }

    #[test]
    fn listener_prefixed_keys_are_the_tls_and_sasl_configs_only() {
        let cases = [
            ("listener.name.external.scram-sha-256.sasl.jaas.config", "x", "PLAIN only, not SCRAM-SHA-256"),
            ("listener.name.external.sasl.jaas.config", "x", "listener.name.external.plain.sasl.jaas.config"),
            ("listener.name.external.log.retention.hours", "1", "cannot be set per listener"),
            ("listener.name.external.ssl.client.auth", "maybe", "must be one of"),
            ("listener.name.external", "x", "expected listener.name.<listener>.<config>"),
            ("listener.name.external.sasl.enabled.mechanisms", "GSSAPI", "PLAIN only, not GSSAPI"),
        ];
        for (key, value, expected) in cases {
            let e = BrokerConfig::new().set(key, value).expect_err(key);
            assert!(e.to_string().contains(expected), "{key}: {e}");
        }
        let mut c = BrokerConfig::new();
        c.set("ssl.client.auth", "none").expect("valid");
        c.set("listener.name.External.ssl.client.auth", "required").expect("valid");
        assert_eq!(c.listener_value("EXTERNAL", "ssl.client.auth"), Some(super::super::ConfigValue::String("required".into())));
        assert_eq!(c.listener_value("INTERNAL", "ssl.client.auth"), Some(super::super::ConfigValue::String("none".into())));
    }

    #[test]
    fn a_sasl_listener_without_usable_users_is_refused_with_the_way_out() {
        let cases = [
            (String::new(), "set listener.name.external.plain.sasl.jaas.config="),
            ("sasl.jaas.config=com.example.Login required;\n".to_string(), "names com.example.Login"),
            (format!("sasl.jaas.config={PLAIN_LOGIN_MODULE} required username=\"a\";\n"), "lists no user"),
            (format!("sasl.jaas.config={PLAIN_LOGIN_MODULE} required user_a=\"b\"\n"), "must end with ';'"),
        ];
        for (lines, expected) in cases {
            let e = config(&lines).sasl_settings("EXTERNAL").expect_err(&lines);
            assert!(e.to_string().contains(expected), "{lines:?}: {e}");
        }
    }
}
