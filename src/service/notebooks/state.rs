//! A notebook instance's state in typed form: the status moves it may make (`NOTEBOOK_STATUS`),
//! the settings Describe echoes from Create/UpdateNotebookInstance, and the derived members the
//! supervisors read back from the store.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::aws::model::typed::sagemaker::{
    CreateNotebookInstanceInput, DirectInternetAccess, IPAddressType,
    InstanceMetadataServiceConfiguration, NotebookInstanceAcceleratorType,
    NotebookInstanceStatus as S, RootAccess, UpdateNotebookInstanceInput,
};
use crate::service::lifecycle::Lifecycle;

/// Every status move a notebook instance makes. Deleting ends with the row removed, so it is
/// terminal here; Updating is only met in a row written by an older sagebox, which recovery
/// finishes as Stopped (UpdateNotebookInstance itself saves Stopped at once).
pub const NOTEBOOK_STATUS: Lifecycle<S> = Lifecycle {
    family: "notebook instance",
    initial: &[S::Pending],
    moves: &[
        (S::Pending, S::InService),
        (S::Pending, S::Failed),
        (S::InService, S::Stopping),
        (S::InService, S::Failed),
        // after a restart, a serving instance whose container is gone starts again
        (S::InService, S::Pending),
        (S::Stopping, S::Stopped),
        (S::Stopped, S::Pending),
        (S::Stopped, S::Updating),
        (S::Stopped, S::Deleting),
        (S::Failed, S::Pending),
        (S::Failed, S::Updating),
        (S::Failed, S::Stopped),
        (S::Failed, S::Deleting),
        (S::Updating, S::Stopped),
    ],
};

/// A stored status as the enum (None for a row without one).
pub fn parse_status(stored: Option<&str>) -> Option<S> {
    stored.and_then(|s| s.parse().ok())
}

/// The DescribeNotebookInstance members that come from Create/UpdateNotebookInstance, under
/// their Describe names (SecurityGroupIds → SecurityGroups, LifecycleConfigName →
/// NotebookInstanceLifecycleConfigName). Serialized, it holds only the members given.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Settings {
    #[serde(rename = "InstanceType", skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(rename = "SubnetId", skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(rename = "RoleArn", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(rename = "KmsKeyId", skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(
        rename = "DirectInternetAccess",
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_internet_access: Option<DirectInternetAccess>,
    #[serde(rename = "VolumeSizeInGB", skip_serializing_if = "Option::is_none")]
    pub volume_size_in_gb: Option<i64>,
    #[serde(rename = "AcceleratorTypes", skip_serializing_if = "Option::is_none")]
    pub accelerator_types: Option<Vec<NotebookInstanceAcceleratorType>>,
    #[serde(
        rename = "DefaultCodeRepository",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_code_repository: Option<String>,
    #[serde(
        rename = "AdditionalCodeRepositories",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_code_repositories: Option<Vec<String>>,
    #[serde(rename = "RootAccess", skip_serializing_if = "Option::is_none")]
    pub root_access: Option<RootAccess>,
    #[serde(rename = "PlatformIdentifier", skip_serializing_if = "Option::is_none")]
    pub platform_identifier: Option<String>,
    #[serde(rename = "IpAddressType", skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<IPAddressType>,
    #[serde(
        rename = "InstanceMetadataServiceConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_metadata_service_configuration: Option<InstanceMetadataServiceConfiguration>,
    #[serde(rename = "SecurityGroups", skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(
        rename = "NotebookInstanceLifecycleConfigName",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifecycle_config_name: Option<String>,
}

impl Settings {
    pub fn from_create(req: &CreateNotebookInstanceInput) -> Settings {
        Settings {
            instance_type: req.instance_type.clone(),
            subnet_id: req.subnet_id.clone(),
            role_arn: req.role_arn.clone(),
            kms_key_id: req.kms_key_id.clone(),
            direct_internet_access: req.direct_internet_access,
            volume_size_in_gb: req.volume_size_in_gb,
            accelerator_types: req.accelerator_types.clone(),
            default_code_repository: req.default_code_repository.clone(),
            additional_code_repositories: req.additional_code_repositories.clone(),
            root_access: req.root_access,
            platform_identifier: req.platform_identifier.clone(),
            ip_address_type: req.ip_address_type,
            instance_metadata_service_configuration: req
                .instance_metadata_service_configuration
                .clone(),
            security_groups: req.security_group_ids.clone(),
            lifecycle_config_name: req.lifecycle_config_name.clone(),
        }
    }

    pub fn from_update(req: &UpdateNotebookInstanceInput) -> Settings {
        Settings {
            instance_type: req.instance_type.clone(),
            role_arn: req.role_arn.clone(),
            volume_size_in_gb: req.volume_size_in_gb,
            accelerator_types: req.accelerator_types.clone(),
            default_code_repository: req.default_code_repository.clone(),
            additional_code_repositories: req.additional_code_repositories.clone(),
            root_access: req.root_access,
            platform_identifier: req.platform_identifier.clone(),
            ip_address_type: req.ip_address_type,
            instance_metadata_service_configuration: req
                .instance_metadata_service_configuration
                .clone(),
            lifecycle_config_name: req.lifecycle_config_name.clone(),
            ..Settings::default()
        }
    }

    /// AWS's defaults for the members a CreateNotebookInstance leaves out.
    pub fn with_defaults(mut self) -> Settings {
        self.direct_internet_access
            .get_or_insert(DirectInternetAccess::Enabled);
        self.root_access.get_or_insert(RootAccess::Enabled);
        self.platform_identifier
            .get_or_insert_with(|| "notebook-al2-v3".to_string());
        self.ip_address_type.get_or_insert(IPAddressType::Ipv4);
        self.volume_size_in_gb.get_or_insert(5);
        self.instance_metadata_service_configuration
            .get_or_insert_with(|| InstanceMetadataServiceConfiguration {
                minimum_instance_metadata_service_version: Some("1".to_string()),
            });
        self
    }

    /// The members as stored in the derived state.
    pub fn into_members(self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // a struct of options always serializes to an object
            _ => Map::new(),
        }
    }
}

/// What the notebook code reads back from an instance's derived state (the rest is only echoed
/// by Describe, so it is not decoded here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Derived {
    #[serde(rename = "InstanceType")]
    pub instance_type: Option<String>,
    #[serde(rename = "VolumeSizeInGB")]
    pub volume_size_in_gb: Option<i64>,
    #[serde(rename = "NotebookInstanceLifecycleConfigName")]
    pub lifecycle_config_name: Option<String>,
    #[serde(rename = "DefaultCodeRepository")]
    pub default_code_repository: Option<String>,
    /// Set once the instance has started for the first time (OnCreate ran).
    #[serde(rename = "_Created")]
    pub created: Option<bool>,
    /// The serving Jupyter container.
    #[serde(rename = "_Container")]
    pub container: Option<String>,
    /// The token sagebox adds to the requests it forwards to that container.
    #[serde(rename = "_Token")]
    pub token: Option<String>,
}

impl Derived {
    /// Instance `name`'s derived members; a row that does not decode reads as empty (logged),
    /// as a missing member did before.
    pub fn of(name: &str, derived: &Value) -> Derived {
        crate::service::stored(&format!("notebook instance {name}"), derived).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            Derived::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_the_notebook_code_writes_is_reachable() {
        let reached = NOTEBOOK_STATUS.reachable();
        for s in [
            S::Pending,
            S::InService,
            S::Stopping,
            S::Stopped,
            S::Failed,
            S::Deleting,
            S::Updating,
        ] {
            assert!(reached.contains(&s), "{s} is not reachable");
        }
        assert!(NOTEBOOK_STATUS.is_terminal(S::Deleting));
        for s in [S::Pending, S::InService, S::Stopped, S::Failed] {
            assert!(!NOTEBOOK_STATUS.is_terminal(s), "{s}");
        }
    }

    #[test]
    fn illegal_moves_are_refused() {
        for (from, to) in [
            (S::Deleting, S::InService),
            (S::Stopped, S::InService),
            (S::InService, S::Deleting),
            (S::Stopping, S::Pending),
            (S::Pending, S::Stopped),
        ] {
            assert!(
                NOTEBOOK_STATUS.check("nb", from, to).is_err(),
                "{from} → {to}"
            );
        }
        assert!(NOTEBOOK_STATUS.check("nb", S::Failed, S::Pending).is_ok());
    }

    #[test]
    fn settings_hold_only_what_was_given_with_describe_names() {
        let req: CreateNotebookInstanceInput = crate::aws::model::typed::decode(
            serde_json::json!({
                "NotebookInstanceName": "nb",
                "InstanceType": "ml.t3.medium",
                "SecurityGroupIds": ["sg-1"],
                "LifecycleConfigName": "lc",
                "VolumeSizeInGB": 7,
            })
            .as_object()
            .expect("object"),
        )
        .expect("decodes");
        let m = Settings::from_create(&req).into_members();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({
                "InstanceType": "ml.t3.medium",
                "SecurityGroups": ["sg-1"],
                "NotebookInstanceLifecycleConfigName": "lc",
                "VolumeSizeInGB": 7,
            })
        );
        let d = Settings::from_create(&req).with_defaults().into_members();
        assert_eq!(d["VolumeSizeInGB"], 7);
        assert_eq!(d["DirectInternetAccess"], "Enabled");
        assert_eq!(d["IpAddressType"], "ipv4");
        assert_eq!(
            d["InstanceMetadataServiceConfiguration"],
            serde_json::json!({"MinimumInstanceMetadataServiceVersion": "1"})
        );
    }
}
