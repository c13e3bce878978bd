//! Notebook instance lifecycle configurations: CreateNotebookInstanceLifecycleConfig, Describe,
//! List, Update and Delete. OnCreate and OnStart each hold at most one script, base64-encoded,
//! that the instance runs as root (OnCreate on its first start only, OnStart on every start).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateNotebookInstanceLifecycleConfigInput, NotebookInstanceLifecycleHook,
    UpdateNotebookInstanceLifecycleConfigInput,
};
use crate::aws::time::now_epoch;
use crate::service::described::{NotebookLifecycleConfig, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, ServiceError, ServiceResult, Services};
use crate::store::resources::{Resource, ResourceKind};

const KIND: ResourceKind = ResourceKind::NotebookLifecycleConfig;

/// The decoded scripts of a configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scripts {
    pub on_create: Option<Vec<u8>>,
    pub on_start: Option<Vec<u8>>,
}

/// A configuration's hooks, as a request gives them and as they are stored (and described).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Hooks {
    #[serde(rename = "OnCreate", skip_serializing_if = "Option::is_none")]
    on_create: Option<Vec<NotebookInstanceLifecycleHook>>,
    #[serde(rename = "OnStart", skip_serializing_if = "Option::is_none")]
    on_start: Option<Vec<NotebookInstanceLifecycleHook>>,
}

impl Hooks {
    /// Checks each hook list (one script at most, valid base64).
    fn checked(self) -> ServiceResult<Hooks> {
        for (member, list) in [("OnCreate", &self.on_create), ("OnStart", &self.on_start)] {
            let Some(list) = list else { continue };
            if list.len() > 1 {
                return Err(ServiceError::Validation(format!(
                    "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must have length less than or equal to 1",
                    json!(list),
                    crate::service::lower_first(member)
                )));
            }
            for hook in list {
                let content = hook.content.as_deref().unwrap_or("");
                if STANDARD.decode(content.trim()).is_err() {
                    return Err(ServiceError::Validation(format!(
                        "The {member} script of a lifecycle configuration must be base64-encoded; '{}' is not valid base64.",
                        content.chars().take(40).collect::<String>()
                    )));
                }
            }
        }
        Ok(self)
    }

    /// The hooks as stored in the derived state.
    fn into_members(self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // a struct of options always serializes to an object
            _ => Map::new(),
        }
    }
}

/// The scripts of a stored configuration, decoded.
pub fn scripts(config: &Resource) -> Scripts {
    let what = format!("notebook instance lifecycle config {}", config.name);
    let hooks: Hooks = crate::service::stored(&what, &config.derived).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        Hooks::default()
    });
    let decode = |list: Option<Vec<NotebookInstanceLifecycleHook>>| {
        let content = list?.into_iter().next()?.content?;
        STANDARD.decode(content.trim()).ok()
    };
    Scripts {
        on_create: decode(hooks.on_create),
        on_start: decode(hooks.on_start),
    }
}

/// The member a validated request always has (see `required` in the instances' module).
fn config_name(name: &Option<String>) -> ServiceResult<String> {
    super::required("NotebookInstanceLifecycleConfigName", name)
}

fn missing(services: &Services, name: &str) -> ServiceError {
    ServiceError::Validation(format!(
        "Unable to describe Notebook Instance Lifecycle Config '{}'. (Reason: Notebook Instance Lifecycle Config does not exist)",
        services.sagemaker_arn(KIND.arn_type(), name)
    ))
}

impl Services {
    pub async fn create_notebook_lifecycle_config(
        &self,
        input: Input<CreateNotebookInstanceLifecycleConfigInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = input.members;
        let name = config_name(&req.notebook_instance_lifecycle_config_name)?;
        // No LastModifiedTime yet: Describe falls back to the row's `modified`, which creation
        // sets to the creation time itself (a second clock reading could precede it).
        let derived = Hooks {
            on_create: req.on_create,
            on_start: req.on_start,
        }
        .checked()?
        .into_members();
        match self
            .create_resource(KIND, &name, input.raw, Value::Object(derived), None)
            .await
        {
            Err(ServiceError::Duplicate(_)) => Err(ServiceError::Validation(format!(
                "Unable to create Notebook Instance Lifecycle Config '{}'. (Reason: Notebook Instance Lifecycle Config already exists)",
                self.sagemaker_arn(KIND.arn_type(), &name)
            ))),
            other => other,
        }
    }

    pub async fn notebook_lifecycle_config(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        self.store
            .resource(KIND, name)
            .await?
            .ok_or_else(|| missing(self, name))
    }

    pub async fn describe_notebook_lifecycle_config(
        &self,
        name: &str,
    ) -> ServiceResult<NotebookLifecycleConfig> {
        let c = self.notebook_lifecycle_config(name).await?;
        Ok(NotebookLifecycleConfig {
            record: Record::from(&*c),
        })
    }

    /// UpdateNotebookInstanceLifecycleConfig: the request is not stored, only its hooks.
    pub async fn update_notebook_lifecycle_config(
        &self,
        req: UpdateNotebookInstanceLifecycleConfigInput,
    ) -> ServiceResult<()> {
        let name = config_name(&req.notebook_instance_lifecycle_config_name)?;
        let c = self.notebook_lifecycle_config(&name).await?;
        let new = Hooks {
            on_create: req.on_create,
            on_start: req.on_start,
        }
        .checked()?
        .into_members();
        let mut derived = c.derived.as_object().cloned().unwrap_or_default();
        // A hook left out of the request is removed, as AWS does.
        derived.remove("OnCreate");
        derived.remove("OnStart");
        derived.extend(new);
        derived.insert("LastModifiedTime".into(), json!(now_epoch()));
        self.store
            .update_resource_state(KIND, &c.name, None, Value::Object(derived), now_epoch())
            .await?;
        Ok(())
    }

    pub async fn delete_notebook_lifecycle_config(&self, name: &str) -> ServiceResult<()> {
        let c = self.notebook_lifecycle_config(name).await?;
        self.store.delete_resource(KIND, &c.name).await?;
        Ok(())
    }

    pub async fn list_notebook_lifecycle_configs(
        &self,
        params: ListParams,
    ) -> ServiceResult<Page<NotebookLifecycleConfig>> {
        let page = self.list_resources(KIND, params).await?;
        Ok(page.map(|c| NotebookLifecycleConfig {
            record: Record::from(&c),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(v: Value) -> ServiceResult<Hooks> {
        serde_json::from_value::<Hooks>(v).expect("hooks").checked()
    }

    #[test]
    fn hooks_must_be_single_and_base64() {
        let ok = hooks(json!({
            "OnStart": [{"Content": STANDARD.encode("echo hi")}]
        }));
        assert_eq!(
            Value::Object(ok.expect("valid").into_members()),
            json!({"OnStart": [{"Content": STANDARD.encode("echo hi")}]})
        );
        let two = hooks(json!({
            "OnStart": [{"Content": "ZQ=="}, {"Content": "ZQ=="}]
        }));
        assert_eq!(
            two.map(|_| ()).map_err(|e| e.to_string()),
            Err(ServiceError::Validation(
                "1 validation error detected: Value '[{\"Content\":\"ZQ==\"},{\"Content\":\"ZQ==\"}]' at 'onStart' failed to satisfy constraint: Member must have length less than or equal to 1".into()
            ).to_string())
        );
        let bad = hooks(json!({
            "OnCreate": [{"Content": "not base64!"}]
        }));
        assert!(bad.is_err());
    }
}
