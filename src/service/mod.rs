//! The service layer: one module per resource family, each owning its validation rules, state
//! and lifecycle. Services speak in SageMaker's vocabulary (a request is the operation's members
//! by their botocore names) and return typed results; they never see HTTP.

pub mod described;
pub mod error;
pub mod experiments;
pub mod failure;
pub mod featurestore;
pub mod hosting;
pub mod identity;
pub mod invocation;
pub mod issued;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod notebooks;
pub mod objects;
pub mod overview;
pub mod pagination;
pub mod pipelines;
pub mod processing;
pub mod registry;
pub mod resources;
pub(crate) mod saving;
pub mod stored;
pub mod studio;
pub mod tags;
pub mod training;
pub mod transform;
pub mod tuning;

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

pub use error::{ServiceError, ServiceResult};

/// A request's members, keyed by their botocore member names, already validated against the
/// operation's input shape by the api layer.
pub type Request = serde_json::Map<String, serde_json::Value>;

/// An operation's input as a service takes it: the members decoded into the operation's
/// generated input type (`aws::model::typed::sagemaker::*`), which is what the service reads,
/// and the request as sent, kept only to store and to echo back in Describe (numbers keep the
/// form the client gave them).
#[derive(Debug, Clone)]
pub struct Input<T> {
    pub members: T,
    pub raw: Request,
}

impl<T: serde::de::DeserializeOwned> Input<T> {
    /// Decodes a request the api layer has validated; a body that validates but does not decode
    /// is a generator/model mismatch, answered as a validation error that names the member.
    pub fn decode(raw: Request) -> ServiceResult<Input<T>> {
        let members = crate::aws::model::typed::decode(&raw).map_err(ServiceError::Validation)?;
        Ok(Input { members, raw })
    }
}

/// A stored request (or derived members) read back as its typed shape, e.g. by a supervisor
/// re-adopting a job after a restart. A row that no longer decodes is an internal error that
/// names the resource.
pub fn stored<T: serde::de::DeserializeOwned>(
    what: &str,
    value: &serde_json::Value,
) -> ServiceResult<T> {
    T::deserialize(value)
        .map_err(|e| ServiceError::Internal(format!("{what}: stored state does not decode: {e}")))
}

/// Everything a service needs: the store, the object store, the container runtime and the
/// account/region identity. The fields are private to the service layer: the api, the console
/// and the wiring in lib.rs go through methods, so none of them reaches the store or the runtime.
#[derive(Clone)]
pub struct Services {
    store: Store,
    objects: objects::Objects,
    runtime: crate::runtime::Runtime,
    /// The supervisors of running training jobs.
    training: training::Supervisors,
    /// Endpoints' routes and deployments.
    hosting: hosting::Hosting,
    /// The supervisors of running transform jobs.
    transforms: training::Supervisors,
    /// The supervisors of running processing jobs.
    processing: training::Supervisors,
    /// The supervisors of running hyperparameter tuning jobs.
    tuning: training::Supervisors,
    /// The executors of running pipeline executions.
    pipelines: pipelines::executor::Executions,
    /// The SageMaker API as pipeline steps call it (set once the api layer is wired).
    sagemaker_api: Arc<std::sync::OnceLock<pipelines::api::ApiCall>>,
    /// Notebook instances' Jupyter servers.
    notebooks: notebooks::Notebooks,
    /// Studio apps' Jupyter servers.
    studio: studio::Studio,
    config: Arc<Config>,
    /// The key pair the containers sagebox starts call back in with.
    issued: issued::IssuedCredentials,
    /// Terminal states the supervisors could not save yet (see `saving`).
    unsaved: saving::Unsaved,
    /// Feature Store rows waiting for the offline store (see `featurestore`).
    offline: featurestore::OfflineBuffer,
    /// True once the startup recovery has taken back (or failed) what an earlier run left and
    /// swept the rest: requests that start or change work wait for it (see `after_recovery`).
    recovered: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Services {
    /// Opens the state under `config.data_dir`: the SQLite store and the object files.
    pub fn open(config: Config) -> Result<Services, crate::StartError> {
        let store = Store::open(&config.data_dir, || {
            objects::allow_new_store(&config.data_dir)
        })?;
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
        let issued = issued::IssuedCredentials::open(&config.data_dir).map_err(|source| {
            crate::StartError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            }
        })?;
        Ok(Services {
            issued,
            recovered: Arc::new(tokio::sync::watch::channel(false).0),
            store,
            objects,
            runtime,
            training: training::Supervisors::default(),
            hosting: hosting::Hosting::default(),
            transforms: training::Supervisors::default(),
            processing: training::Supervisors::default(),
            tuning: training::Supervisors::default(),
            pipelines: Default::default(),
            sagemaker_api: Default::default(),
            notebooks: notebooks::Notebooks::default(),
            studio: studio::Studio::default(),
            config: Arc::new(config),
            unsaved: Default::default(),
            offline: Default::default(),
        })
    }

    /// The configuration sagebox was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Removes every container, network and volume this data directory's server created, for
    /// a server that is done for good (`sagebox run` after its command); how many went.
    pub async fn purge_containers(&self) -> Result<usize, crate::runtime::engine::EngineError> {
        self.runtime
            .engine()
            .await?
            .purge(&self.runtime.owner)
            .await
    }

    /// The object store, for the S3 protocol service and the console's S3 pages.
    pub fn objects(&self) -> &objects::Objects {
        &self.objects
    }

    /// Gives pipeline steps the SageMaker API to call (see `pipelines::api`).
    pub fn set_sagemaker_api(&self, call: pipelines::api::ApiCall) {
        if self.sagemaker_api.set(call).is_err() {
            tracing::debug!("the SageMaker API was already wired");
        }
    }

    /// Tells the runtime the port the API listens on, once bound: containers call back there.
    pub fn set_api_port(&self, port: u16) {
        self.runtime.set_api_port(port);
    }

    /// The Docker bridge's gateway address, where containers reach the host; None without an
    /// engine.
    pub async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        self.runtime.bridge_gateway().await
    }

    /// Where endpoint `name`'s requests go right now; None unless it is serving.
    pub fn endpoint_route(&self, name: &str) -> Option<Arc<hosting::routes::EndpointRoute>> {
        self.hosting.routes.get(name)
    }

    /// The pooled HTTP client that talks to the containers sagebox runs (models, Jupyter).
    pub fn container_client(&self) -> &hosting::ContainerClient {
        &self.hosting.client
    }

    /// Notebook instance `name`'s running Jupyter server, if it has one.
    pub fn notebook_server(&self, name: &str) -> Option<Arc<notebooks::Server>> {
        self.notebooks.server(name)
    }

    /// Runs containers on `engine` instead of the Docker engine (the fake engine in unit tests;
    /// a second backend later).
    #[cfg(test)]
    pub(crate) fn use_engine(&mut self, engine: crate::runtime::engine::Engine) {
        self.runtime = crate::runtime::Runtime::with_engine(
            self.runtime.options.clone(),
            self.runtime.owner.clone(),
            engine,
        );
    }

    /// Says the startup recovery is through (its listing and its sweep).
    pub fn mark_recovered(&self) {
        self.recovered.send_replace(true);
    }

    /// Waits (at most a minute) for the startup recovery: a job created while it runs would
    /// otherwise be taken for one an earlier run left (and failed), and its containers swept.
    /// The local engine recovers in milliseconds; a swarm's manager takes a moment to answer.
    pub async fn after_recovery(&self) {
        let mut recovered = self.recovered.subscribe();
        if *recovered.borrow() {
            return;
        }
        if tokio::time::timeout(
            std::time::Duration::from_secs(60),
            recovered.wait_for(|done| *done),
        )
        .await
        .is_err()
        {
            tracing::warn!("the startup recovery takes over a minute; going on without it");
        }
    }

    /// What every container sagebox runs gets to call back in: region, `AWS_ENDPOINT_URL` (the
    /// host as containers reach it) and the key pair sagebox issued to its containers.
    pub fn callback_env(&self) -> Vec<(String, String)> {
        let region = self.config.region.clone();
        let (key, secret) = self.issued.pair();
        vec![
            ("AWS_REGION".to_string(), region.clone()),
            ("AWS_DEFAULT_REGION".to_string(), region),
            (
                "AWS_ENDPOINT_URL".to_string(),
                self.runtime.container_endpoint(),
            ),
            ("AWS_ACCESS_KEY_ID".to_string(), key),
            ("AWS_SECRET_ACCESS_KEY".to_string(), secret),
        ]
    }

    /// `count` GPUs for `owner` from the pool; with none to give, an error that says why, unless
    /// `--gpu-fallback cpu` (then no GPU, and `warn` is told).
    pub fn grant_gpus(
        &self,
        owner: &str,
        instance_type: &str,
        count: u32,
        warn: impl Fn(&str),
    ) -> Result<crate::runtime::gpu::GpuGrant, String> {
        if count == 0 {
            return Ok(Default::default());
        }
        let grant = self
            .runtime
            .gpus
            .lock()
            .map_err(|_| "GPU pool unavailable".to_string())?
            .allocate(owner, instance_type, count);
        match grant {
            Ok(g) => Ok(g),
            Err(e) if self.runtime.options.gpu_fallback == crate::runtime::GpuFallback::Cpu => {
                warn(&format!(
                    "WARNING: {e}. Running on CPU because of --gpu-fallback cpu."
                ));
                Ok(Default::default())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The key that signs the in-task agent's bind tokens (`crate::agent::plan_for`): derived
    /// from the data directory's container key, so plans survive a restart.
    pub fn agent_key(&self) -> Vec<u8> {
        self.issued.agent_key()
    }

    /// The secret of an access key sagebox accepts: one of `--credentials`, or the pair it
    /// issued to its containers.
    pub fn secret_of(&self, access_key: &str) -> Option<String> {
        self.config
            .secret_of(access_key)
            .or_else(|| self.issued.secret_of(access_key))
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

/// An `Environment` map (string to string, as CreateModel, CreateTrainingJob and
/// CreateTransformJob take it) as variable pairs.
pub fn env_pairs(environment: Option<&serde_json::Value>) -> Vec<(String, String)> {
    environment
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an optional string member.
pub fn str_member<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.get(name).and_then(|v| v.as_str())
}

/// Reads a required string member. The api layer has already checked presence against the
/// model, so a miss here is a model/service mismatch reported as a validation error.
pub fn required_str<'a>(req: &'a Request, name: &str) -> ServiceResult<&'a str> {
    required(str_member(req, name), name)
}

/// A required member of a typed input: as `required_str`, a miss is a model/service mismatch
/// worded as AWS words a missing member.
pub fn required<T>(member: Option<T>, name: &str) -> ServiceResult<T> {
    member.ok_or_else(|| {
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
