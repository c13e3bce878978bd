//! Typed request shapes, generated from the botocore models beside the validation tables: serde
//! structs named as botocore names the shapes, and enums for their enum strings and statuses.
//!
//! The generated modules lean on three hand-written pieces here: `string_enum!` (an enum that
//! (de)serializes as the model's exact text), `Timestamp` (awsJson sends epoch seconds, and
//! sagebox also accepts the strings the validator accepts), and `decode`, which the api layer
//! calls on a body the validator has already accepted.

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

#[cfg(test)]
mod tests;

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Decodes an awsJson body into a request type. Members the type does not know are ignored, so
/// a model that grew a member still decodes; the error text names the member that did not fit.
pub fn decode<T: DeserializeOwned>(members: &Map<String, Value>) -> Result<T, String> {
    T::deserialize(members).map_err(|e| e.to_string())
}

/// A timestamp member: epoch seconds. Written back as an integer when it is one, so a number the
/// client sent re-renders as it came.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Timestamp(pub f64);

/// Integral values below 2^53 are exact in an f64, so they can be written as JSON integers.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < EXACT_INTEGER {
            // Exact by the check above: the cast cannot truncate.
            return serializer.serialize_i64(self.0 as i64);
        }
        serializer.serialize_f64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("epoch seconds, as a number or an epoch or ISO 8601 string")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
        Ok(Timestamp(v))
    }

    // JSON integers arrive here; epoch seconds are far inside f64's exact range.
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Ok(Timestamp(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        Ok(Timestamp(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        crate::aws::time::parse_timestamp(v)
            .map(Timestamp)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// An enum string shape: variants in the model's order, each (de)serialized as the model's text.
/// `FromStr` fails with the unknown text itself, for the caller to word its own error.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $value,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($value => Ok(Self::$variant),)+
                    other => Err(other.to_string()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(|unknown: String| {
                    serde::de::Error::custom(format!(
                        "{unknown:?} is not a {}",
                        stringify!($name)
                    ))
                })
            }
        }
    };
}
pub(crate) use string_enum;
