//! A resource's `FailureReason`, as SageMaker words it: a class prefix that tells the user whose
//! fault it was ("ClientError: …" for the request or its data, "AlgorithmError: …" for the
//! container's code, …), then the detail. Stored and rendered as that one text, at most 1024
//! characters long, as AWS caps it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most characters AWS keeps of a failure reason.
pub const MAX_CHARS: usize = 1024;

/// Why a job, endpoint or notebook instance failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The request or its inputs: a missing bucket, an unreadable manifest, a bad URI.
    ClientError(String),
    /// The user's container failed: it exited non-zero or wrote /opt/ml/output/failure.
    AlgorithmError(String),
    /// No instance (GPU) was free for the job.
    CapacityError(String),
    /// sagebox itself or its engine failed.
    InternalServerError(String),
    /// A reason SageMaker words without a class (endpoints, notebook instances), or an image's own
    /// text that does not follow the "Class: detail" form: shown exactly as it is.
    Plain(String),
}

impl FailureReason {
    /// Reads a stored or rendered reason back. Only "Class: " (with its space) is taken as a
    /// prefix, so that rendering the result gives back exactly `text`.
    pub fn parse(text: &str) -> Self {
        for (prefix, make) in CLASSES {
            if let Some(detail) = text.strip_prefix(prefix) {
                return make(detail.to_string());
            }
        }
        Self::Plain(text.to_string())
    }

    /// The reason's class as it prefixes the text; `None` for a plain reason.
    pub fn class(&self) -> Option<&'static str> {
        match self {
            Self::ClientError(_) => Some("ClientError"),
            Self::AlgorithmError(_) => Some("AlgorithmError"),
            Self::CapacityError(_) => Some("CapacityError"),
            Self::InternalServerError(_) => Some("InternalServerError"),
            Self::Plain(_) => None,
        }
    }

    /// The text after the class prefix.
    pub fn detail(&self) -> &str {
        match self {
            Self::ClientError(d)
            | Self::AlgorithmError(d)
            | Self::CapacityError(d)
            | Self::InternalServerError(d)
            | Self::Plain(d) => d,
        }
    }
}

type Make = fn(String) -> FailureReason;

const CLASSES: [(&str, Make); 4] = [
    ("ClientError: ", FailureReason::ClientError),
    ("AlgorithmError: ", FailureReason::AlgorithmError),
    ("CapacityError: ", FailureReason::CapacityError),
    ("InternalServerError: ", FailureReason::InternalServerError),
];

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = match self.class() {
            Some(class) => format!("{class}: {}", self.detail()),
            None => self.detail().to_string(),
        };
        match full.char_indices().nth(MAX_CHARS) {
            Some((cut, _)) => f.write_str(&full[..cut]),
            None => f.write_str(&full),
        }
    }
}

impl Serialize for FailureReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FailureReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_render_with_their_prefix() {
        let cases = [
            (
                FailureReason::ClientError("no bucket".into()),
                "ClientError: no bucket",
            ),
            (
                FailureReason::AlgorithmError("exit 1".into()),
                "AlgorithmError: exit 1",
            ),
            (
                FailureReason::CapacityError("no GPU".into()),
                "CapacityError: no GPU",
            ),
            (
                FailureReason::InternalServerError("docker gone".into()),
                "InternalServerError: docker gone",
            ),
            (
                FailureReason::Plain("Jupyter exited".into()),
                "Jupyter exited",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
            assert_eq!(FailureReason::parse(text), reason);
        }
    }

    #[test]
    fn parse_then_render_gives_back_the_stored_text() {
        for text in [
            "AlgorithmError:no space",
            "ClientError: ",
            "ClientError",
            "",
            "clienterror: lower case",
            "Failed to update the endpoint to endpoint configuration c; ClientError: x",
        ] {
            assert_eq!(FailureReason::parse(text).to_string(), text, "{text:?}");
        }
        assert!(matches!(
            FailureReason::parse("AlgorithmError:no space"),
            FailureReason::Plain(_)
        ));
    }

    #[test]
    fn reasons_are_cut_to_awss_length_in_characters() {
        let long = FailureReason::AlgorithmError("é".repeat(2000));
        let text = long.to_string();
        assert_eq!(text.chars().count(), MAX_CHARS);
        assert!(text.starts_with("AlgorithmError: é"));
        // A cut reason reads back as itself.
        assert_eq!(FailureReason::parse(&text).to_string(), text);
        let exact = FailureReason::Plain("x".repeat(MAX_CHARS));
        assert_eq!(exact.to_string().len(), MAX_CHARS);
    }

    #[test]
    fn serde_uses_the_rendered_text() {
        let reason = FailureReason::ClientError("bad URI".into());
        let json = serde_json::to_value(&reason).expect("serialize");
        assert_eq!(json, serde_json::json!("ClientError: bad URI"));
        let back: FailureReason = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, reason);
    }
}
