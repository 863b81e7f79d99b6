//! Kafka error codes as the text a Kafka tool would print, and how an admin tool ends.
//!
//! Kafka's tools print the exception message, which is the broker's `error_message`
//! when the response carries one and otherwise the default message of the error code
//! (from Kafka's `Errors.java`).

use kafka_protocol::error::ResponseError;

/// The exit code of an admin tool whose work gave `outcome` (whether every item it
/// acted on succeeded); an error is printed as Kafka's admin commands print theirs.
pub(crate) fn exit_code(outcome: anyhow::Result<bool>) -> i32 {
    match outcome {
        Ok(all_succeeded) => i32::from(!all_succeeded),
        Err(e) => {
            eprintln!("Error occurred: {e:#}");
            1
        }
    }
}

/// The message for `code`: the broker's own message when it sent one.
pub(crate) fn describe(code: i16, broker_message: Option<&str>) -> String {
    if let Some(message) = broker_message.map(str::trim).filter(|m| !m.is_empty()) {
        return message.to_string();
    }
    match default_message(code) {
        Some(message) => message.to_string(),
        None => match ResponseError::try_from_code(code) {
            Some(kind) => format!("{kind} (error code {code})"),
            None => "no error".to_string(),
        },
    }
}

/// Kafka's default message for the error codes the admin and client paths meet.
fn default_message(code: i16) -> Option<&'static str> {
    Some(match code {
        -1 => "The server experienced an unexpected error when processing the request.",
        3 => "This server does not host this topic-partition.",
        5 => "There is no leader for this topic-partition as we are in the middle of a leadership election.",
        7 => "The request timed out.",
        17 => "The request attempted to perform an operation on an invalid topic.",
        29 => "Topic authorization failed.",
        35 => "The version of API is not supported.",
        36 => "Topic with this name already exists.",
        37 => "Number of partitions is below 1.",
        38 => "Replication factor is below 1 or larger than the number of available brokers.",
        39 => "Replica assignment is invalid.",
        40 => "Configuration is invalid.",
        41 => "This is not the correct controller for this cluster.",
        42 => "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.",
        73 => "Topic deletion is disabled.",
        100 => "This server does not host this topic ID.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_message_wins_over_the_default() {
        assert_eq!(describe(36, Some("Topic 'a' already exists.")), "Topic 'a' already exists.");
        assert_eq!(describe(36, Some("  ")), "Topic with this name already exists.");
        assert_eq!(describe(36, None), "Topic with this name already exists.");
    }

    #[test]
    fn unknown_codes_name_the_kind_and_code() {
        assert!(describe(25, None).ends_with("(error code 25)"), "{}", describe(25, None));
        assert!(describe(9999, None).contains("9999"));
    }
}
