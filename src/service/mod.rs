//! The service layer: one module per resource family, each owning its validation rules, state
//! and lifecycle. Services speak in SageMaker's vocabulary (a request is the operation's members
//! by their botocore names) and return typed results; they never see HTTP.

pub mod error;
pub mod hosting;
pub mod identity;
pub mod logs;
pub mod objects;
pub mod pagination;
pub mod resources;
pub mod tags;
pub mod training;
pub mod transform;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

pub use error::{ServiceError, ServiceResult};

/// A request's members, keyed by their botocore member names, already validated against the
/// operation's input shape by the api layer.
pub type Request = serde_json::Map<String, serde_json::Value>;

/// Everything a service needs: the store, the object store, the container runtime and the
/// account/region identity.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub objects: objects::Objects,
    pub runtime: crate::runtime::Runtime,
    /// The supervisors of running training jobs.
    pub training: training::Supervisors,
    /// Endpoints' routes and deployments.
    pub hosting: hosting::Hosting,
    /// The supervisors of running transform jobs.
    pub transforms: training::Supervisors,
    pub config: Arc<Config>,
}

impl Services {
    /// Opens the state under `config.data_dir`: the SQLite store and the object files.
    pub fn open(config: Config) -> Result<Services, crate::StartError> {
        let store = Store::open(&config.data_dir)?;
        let objects = objects::Objects::new(store.clone(), &config.data_dir, &config.region)
            .map_err(|source| crate::StartError::Objects {
                path: config.data_dir.display().to_string(),
                source,
            })?;
        let runtime = crate::runtime::Runtime::open(config.runtime.clone(), &config.data_dir)
            .map_err(|source| crate::StartError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            })?;
        Ok(Services {
            store,
            objects,
            runtime,
            training: training::Supervisors::default(),
            hosting: hosting::Hosting::default(),
            transforms: training::Supervisors::default(),
            config: Arc::new(config),
        })
    }

    pub fn sagemaker_arn(&self, resource_type: &str, name: &str) -> String {
        crate::aws::arn::sagemaker(
            &self.config.region,
            &self.config.account_id,
            resource_type,
            name,
        )
    }
}

/// Reads an optional string member.
pub fn str_member<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.get(name).and_then(|v| v.as_str())
}

/// Reads a required string member. The api layer has already checked presence against the
/// model, so a miss here is a model/service mismatch reported as a validation error.
pub fn required_str<'a>(req: &'a Request, name: &str) -> ServiceResult<&'a str> {
    str_member(req, name).ok_or_else(|| {
        ServiceError::Validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

/// `ModelName` → `modelName`, the member spelling AWS uses in messages.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
