//! Protocol plumbing shared by the api modules: AWS error shapes for each wire protocol, ARNs,
//! timestamps, SigV4 credential-scope parsing, and the botocore-derived request models.

pub mod arn;
pub mod error;
pub mod model;
pub mod sigv4;
pub mod time;
pub mod xml;

pub use error::AwsError;
