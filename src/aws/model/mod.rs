//! Request validation against botocore's service models, the way AWS's "Coral" front end does it.
//!
//! `tools/gen_models.py` turns each botocore model into a table module (`sagemaker`, `logs`,
//! `cloudwatch`, `sagemaker_featurestore_runtime`, `sagemaker_metrics`): the operations sagebox
//! implements, the shapes their inputs reach, and every operation name in the
//! model; `typed` holds serde types for those shapes, and `unicode` the character classes the
//! tables' patterns share. This module holds the table types and the one validator that walks a parsed awsJson body
//! against them. Wrong JSON types are a `SerializationException`; constraint violations are all
//! collected, in model order, into one `ValidationException` worded exactly as AWS words it.
//!
//! Validation runs on every request, so a valid body allocates nothing: shapes are found by binary
//! search, paths are built on the stack, and text is only formatted once something is wrong.

#[rustfmt::skip]
pub mod cloudwatch;
#[rustfmt::skip]
pub mod logs;
#[rustfmt::skip]
pub mod sagemaker;
#[rustfmt::skip]
pub mod sagemaker_featurestore_runtime;
#[rustfmt::skip]
pub mod sagemaker_metrics;
pub mod typed;
#[rustfmt::skip]
pub mod unicode;
mod validate;

use validate::{Path, Validator};

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// One AWS service's tables, as generated.
pub struct Model {
    pub service: &'static str,
    /// The operations sagebox implements, sorted by name.
    pub operations: &'static [Operation],
    /// The shapes reachable from those operations' inputs, sorted by name.
    pub shapes: &'static [Shape],
    /// Every operation in the botocore model, sorted.
    pub all_operations: &'static [&'static str],
}

pub struct Operation {
    pub name: &'static str,
    /// The input shape's name; `None` for operations that take no input.
    pub input: Option<&'static str>,
}

pub struct Shape {
    pub name: &'static str,
    pub kind: ShapeKind,
}

/// A botocore shape type with the constraints AWS checks. Lengths count characters for strings,
/// elements for lists, entries for maps and bytes for blobs.
pub enum ShapeKind {
    Structure {
        members: &'static [Member],
        required: &'static [&'static str],
    },
    List {
        member: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: &'static str,
        value: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<&'static Pattern>,
        /// Allowed values in model order; empty when any value is allowed.
        enum_values: &'static [&'static str],
        /// AWS leaves sensitive values out of its error messages.
        sensitive: bool,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Long {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Double {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    /// Epoch seconds as a JSON number, or a date string.
    Timestamp,
    /// Base64 text on the wire.
    Blob {
        min: Option<i64>,
        max: Option<i64>,
    },
}

/// A structure member: its wire name and the name of its shape.
pub struct Member {
    pub name: &'static str,
    pub target: &'static str,
}

/// A model pattern. `source` is the model's (Java) text, which error messages quote; `rust` is the
/// same pattern in `regex` syntax, in pieces to concatenate (empty: `source` as is). It compiles on
/// first use, anchored to the whole value as Java's `matches()` is.
pub struct Pattern {
    pub source: &'static str,
    rust: &'static [&'static str],
    regex: OnceLock<Option<Regex>>,
}

impl Pattern {
    pub const fn new(source: &'static str, rust: &'static [&'static str]) -> Self {
        Pattern {
            source,
            rust,
            regex: OnceLock::new(),
        }
    }

    /// The compiled pattern, or `None` if the generator could not express it for `regex`; the
    /// check is then skipped (the tests keep that list empty for the generated tables).
    pub fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                let mut text = String::from("^(?:");
                if self.rust.is_empty() {
                    text.push_str(self.source);
                } else {
                    self.rust.iter().for_each(|piece| text.push_str(piece));
                }
                text.push_str(")$");
                match Regex::new(&text) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        tracing::warn!(pattern = self.source, error = %e, "model pattern not checked");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn is_match(&self, value: &str) -> bool {
        self.regex().is_none_or(|re| re.is_match(value))
    }
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Wrong JSON type for a member, or a body that is not an object: awsJson `SerializationException`.
    #[error("{0}")]
    Serialization(String),
    /// Constraint violations: `ValidationException`, worded as AWS does.
    #[error("{0}")]
    Validation(String),
}

impl Model {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        let i = self
            .operations
            .binary_search_by(|op| op.name.cmp(name))
            .ok()?;
        Some(&self.operations[i])
    }

    /// Whether the service has this operation at all, implemented by sagebox or not.
    pub fn is_known_operation(&self, name: &str) -> bool {
        self.all_operations.binary_search(&name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        let i = self.shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        Some(&self.shapes[i])
    }

    /// Checks members against operation `op`'s input shape by name, as a request of the API
    /// would be (the console builds requests from forms); the message is AWS's.
    pub fn validate_named(&self, op: &str, input: &Value) -> Result<(), String> {
        let Some(operation) = self.operation(op) else {
            return Err(format!("{op} is not implemented"));
        };
        self.validate(operation, input).map_err(|e| e.to_string())
    }

    /// Validate an awsJson request body (already parsed) against the operation's input shape.
    pub fn validate(&self, op: &Operation, input: &Value) -> Result<(), InputError> {
        let Some(shape) = op.input else { return Ok(()) };
        if !input.is_object() {
            return Err(InputError::Serialization(
                "The request body must be a JSON object.".into(),
            ));
        }
        let mut v = Validator {
            model: self,
            errors: Vec::new(),
        };
        v.value(shape, input, &Path::Root)
            .map_err(InputError::Serialization)?;
        match v.errors.len() {
            0 => Ok(()),
            n => Err(InputError::Validation(format!(
                "{n} validation error{} detected: {}",
                if n == 1 { "" } else { "s" },
                v.errors.join("; ")
            ))),
        }
    }
}
