//! What the Describe* and List* operations of each family return: service-owned values in
//! SageMaker's words, which the api layer renders into the wire shapes. Nothing here is JSON
//! put together for the wire; `request` and `derived` are what a client sent and what sagebox
//! derived, kept whole because a Describe echoes them back.

use serde_json::Value;

use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::store::resources::Resource;

/// What every stored resource carries into a Describe or List.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: String,
    pub arn: String,
    /// Epoch seconds.
    pub created: f64,
    /// When the row last changed, epoch seconds; a `LastModifiedTime` in `derived` wins over it.
    pub modified: f64,
    /// The request's members, as the client sent them.
    pub request: Value,
    /// Members sagebox computed; those named with a leading `_` are sagebox's own bookkeeping.
    pub derived: Value,
}

impl From<Resource> for Record {
    fn from(r: Resource) -> Record {
        Record {
            name: r.name,
            arn: r.arn,
            created: r.created,
            modified: r.modified,
            request: r.request,
            derived: r.derived,
        }
    }
}

impl From<&Resource> for Record {
    fn from(r: &Resource) -> Record {
        Record {
            name: r.name.clone(),
            arn: r.arn.clone(),
            created: r.created,
            modified: r.modified,
            request: r.request.clone(),
            derived: r.derived.clone(),
        }
    }
}

/// A model (DescribeModel, ListModels).
#[derive(Debug, Clone)]
pub struct Model {
    pub record: Record,
}

/// An endpoint configuration (DescribeEndpointConfig, ListEndpointConfigs).
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub record: Record,
}

/// A training job (DescribeTrainingJob, ListTrainingJobs); `status` is None only for a row
/// written before its first state save.
#[derive(Debug, Clone)]
pub struct TrainingJob {
    pub record: Record,
    pub status: Option<crate::aws::model::typed::sagemaker::TrainingJobStatus>,
}

/// An endpoint (DescribeEndpoint, ListEndpoints), with its variants as they serve right now.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub record: Record,
    /// None only for a row written before its first state save (or a status the model lacks).
    pub status: Option<EndpointStatus>,
    /// The live deployment's variants; None while none is deployed (or it is being deleted).
    pub variants: Option<Vec<ProductionVariantStatus>>,
}

/// One variant of a deployed endpoint, counted from the instances that answer.
#[derive(Debug, Clone)]
pub struct ProductionVariantStatus {
    pub variant_name: String,
    /// DeployedImages as recorded when the containers started.
    pub deployed_images: Value,
    pub weight: f64,
    pub current_instance_count: usize,
    pub desired_instance_count: usize,
}

/// A batch transform job (DescribeTransformJob, ListTransformJobs); `status` is None only for a
/// row written before its first state save.
#[derive(Debug, Clone)]
pub struct TransformJob {
    pub record: Record,
    pub status: Option<crate::aws::model::typed::sagemaker::TransformJobStatus>,
}

/// A notebook instance (DescribeNotebookInstance, ListNotebookInstances).
#[derive(Debug, Clone)]
pub struct NotebookInstance {
    pub record: Record,
    /// None until the first save (a row an older sagebox wrote without one).
    pub status: Option<crate::aws::model::typed::sagemaker::NotebookInstanceStatus>,
}

/// A notebook instance lifecycle configuration.
#[derive(Debug, Clone)]
pub struct NotebookLifecycleConfig {
    pub record: Record,
}

impl<T> crate::service::resources::Page<T> {
    /// The same page with each item turned into what a Describe or List returns.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> crate::service::resources::Page<U> {
        crate::service::resources::Page {
            items: self.items.into_iter().map(f).collect(),
            next_token: self.next_token,
        }
    }
}

/// A resource of any kind, as the console lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub record: Record,
    pub status: Option<String>,
}
