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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn saved_state_reads_back_and_keeps_what_it_does_not_name() {
        let derived = json!({
            "EndpointConfigName": "c",
            "_Deployment": "d1",
            "FailureReason": "kept",
            "LastModifiedTime": 3,
            "ProductionVariants": [{"VariantName": "v", "DesiredInstanceCount": 2,
                                    "CurrentInstanceCount": 1, "DeployedImages": [{"SpecifiedImage": "i"}],
                                    "CurrentWeight": 0.5, "DesiredWeight": 0.5}],
        });
        let state: EndpointState =
            crate::service::stored("endpoint ep", &derived).expect("decodes");
        assert_eq!(state.config_name.as_deref(), Some("c"));
        assert_eq!(state.deployment.as_deref(), Some("d1"));
        let v = &state.variants.as_deref().unwrap_or_default()[0];
        assert_eq!(
            (v.variant_name.as_str(), v.desired_instance_count),
            ("v", 2)
        );
        assert_eq!(v.current_weight, 0.5);
        assert_eq!(serde_json::to_value(&state).expect("encodes"), derived);

        let bare: SavedVariant =
            crate::service::stored("endpoint ep", &json!({"VariantName": "v"})).expect("decodes");
        assert_eq!(
            (bare.current_weight, bare.deployed_images),
            (1.0, json!([]))
        );
    }

    #[test]
    fn a_stored_status_the_model_does_not_know_reads_as_none() {
        assert_eq!(
            parse_status("ep", Some("InService")),
            Some(EndpointStatus::InService)
        );
        assert_eq!(parse_status("ep", Some("Serving")), None);
        assert_eq!(parse_status("ep", None), None);
    }
}
