//! An endpoint's state as sagebox keeps it: the legal moves of its `EndpointStatus`, and the
//! derived members it saves (the serving configuration, the deployment that serves it and its
//! variants), read back by Describe's fallback and by recovery after a restart.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::service::lifecycle::Lifecycle;

use EndpointStatus::{Creating, Deleting, Failed, InService, Updating};

/// Every status move the endpoint code makes. Recovery after a restart deploys a serving or
/// updating endpoint again (back to Creating) or re-adopts its containers (InService); delete
/// is allowed from every status but Deleting, which only ends with the row's removal.
pub const ENDPOINT_LIFECYCLE: Lifecycle<EndpointStatus> = Lifecycle {
    family: "endpoint",
    initial: &[Creating],
    moves: &[
        (Creating, InService),
        (Creating, Failed),
        (Creating, Deleting),
        (InService, Updating),
        (InService, Creating),
        (InService, Deleting),
        (Updating, InService),
        (Updating, Creating),
        (Updating, Deleting),
        (Failed, Deleting),
    ],
};

/// The members an endpoint derives, as stored; what it does not name is kept in `rest`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EndpointState {
    #[serde(rename = "EndpointConfigName", skip_serializing_if = "Option::is_none")]
    pub config_name: Option<String>,
    /// The deployment whose containers serve, for re-adopting them by label.
    #[serde(rename = "_Deployment", skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(rename = "ProductionVariants", skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<SavedVariant>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One variant as last saved: what it ran and on how many instances.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SavedVariant {
    #[serde(rename = "VariantName")]
    pub variant_name: String,
    /// DeployedImages as recorded when the containers started, echoed unchanged.
    #[serde(rename = "DeployedImages", default = "no_images")]
    pub deployed_images: Value,
    #[serde(rename = "CurrentWeight", default = "full_weight")]
    pub current_weight: f64,
    #[serde(rename = "DesiredWeight")]
    pub desired_weight: f64,
    #[serde(rename = "CurrentInstanceCount")]
    pub current_instance_count: usize,
    #[serde(rename = "DesiredInstanceCount")]
    pub desired_instance_count: usize,
}

fn no_images() -> Value {
    Value::Array(Vec::new())
}

/// SageMaker's default variant weight.
fn full_weight() -> f64 {
    1.0
}

/// A stored status read back; a text the model does not know is logged and read as none.
pub fn parse_status(name: &str, status: Option<&str>) -> Option<EndpointStatus> {
    let text = status?;
    match text.parse() {
        Ok(s) => Some(s),
        Err(_) => {
            tracing::warn!("endpoint {name}: stored status {text:?} is not an EndpointStatus");
            None
        }
    }
}
