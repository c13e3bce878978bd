//! The api layer: one module per AWS service. Each decodes its wire protocol, calls the service
//! layer, and encodes the answer or maps the service error to the AWS error shape — and does
//! nothing else.

pub mod admin;
pub mod cloudwatch;
pub mod featurestore;
pub mod iam;
pub mod json;
pub mod logs;
pub mod metrics;
pub mod notebooks;
pub mod query;
pub mod runtime;
pub mod s3;
pub mod sagemaker;
pub mod sts;
pub mod studio;
