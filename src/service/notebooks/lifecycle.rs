//! Notebook instance lifecycle configurations: CreateNotebookInstanceLifecycleConfig, Describe,
//! List, Update and Delete. OnCreate and OnStart each hold at most one script, base64-encoded,
//! that the instance runs as root (OnCreate on its first start only, OnStart on every start).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use crate::aws::time::now_epoch;
use crate::service::described::{NotebookLifecycleConfig, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Request, ServiceError, ServiceResult, Services, required_str};
use crate::store::resources::{Resource, ResourceKind};

const KIND: ResourceKind = ResourceKind::NotebookLifecycleConfig;

/// The decoded scripts of a configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scripts {
    pub on_create: Option<Vec<u8>>,
    pub on_start: Option<Vec<u8>>,
}

/// Checks `OnCreate` / `OnStart` (one hook each, valid base64) and returns them as stored.
fn hooks(req: &Request) -> ServiceResult<Map<String, Value>> {
    let mut out = Map::new();
    for member in ["OnCreate", "OnStart"] {
        let Some(list) = req.get(member).and_then(Value::as_array) else {
            continue;
        };
        if list.len() > 1 {
            return Err(ServiceError::Validation(format!(
                "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must have length less than or equal to 1",
                Value::Array(list.clone()),
                crate::service::lower_first(member)
            )));
        }
        for hook in list {
            let content = hook.get("Content").and_then(Value::as_str).unwrap_or("");
            if STANDARD.decode(content.trim()).is_err() {
                return Err(ServiceError::Validation(format!(
                    "The {member} script of a lifecycle configuration must be base64-encoded; '{}' is not valid base64.",
                    content.chars().take(40).collect::<String>()
                )));
            }
        }
        out.insert(member.into(), Value::Array(list.clone()));
    }
    Ok(out)
}

pub fn scripts(config: &Resource) -> Scripts {
    let decode = |member: &str| {
        config
            .derived
            .get(member)
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|h| h.get("Content"))
            .and_then(Value::as_str)
            .and_then(|c| STANDARD.decode(c.trim()).ok())
    };
    Scripts {
        on_create: decode("OnCreate"),
        on_start: decode("OnStart"),
    }
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
        req: Request,
    ) -> ServiceResult<Arc<Resource>> {
        let name = required_str(&req, "NotebookInstanceLifecycleConfigName")?.to_string();
        // No LastModifiedTime yet: Describe falls back to the row's `modified`, which creation
        // sets to the creation time itself (a second clock reading could precede it).
        let derived = hooks(&req)?;
        match self
            .create_resource(KIND, &name, req, Value::Object(derived), None)
            .await
        {
            Err(ServiceError::Validation(m)) if m.starts_with("Cannot create already existing") => {
                Err(ServiceError::Validation(format!(
                    "Unable to create Notebook Instance Lifecycle Config '{}'. (Reason: Notebook Instance Lifecycle Config already exists)",
                    self.sagemaker_arn(KIND.arn_type(), &name)
                )))
            }
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

    pub async fn update_notebook_lifecycle_config(&self, req: Request) -> ServiceResult<()> {
        let name = required_str(&req, "NotebookInstanceLifecycleConfigName")?;
        let c = self.notebook_lifecycle_config(name).await?;
        let new = hooks(&req)?;
        let mut derived = c.derived.as_object().cloned().unwrap_or_default();
        // A hook left out of the request is removed, as AWS does.
        for m in ["OnCreate", "OnStart"] {
            match new.get(m) {
                Some(v) => derived.insert(m.into(), v.clone()),
                None => derived.remove(m),
            };
        }
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

    #[test]
    fn hooks_must_be_single_and_base64() {
        let ok: Request = serde_json::from_value(json!({
            "OnStart": [{"Content": STANDARD.encode("echo hi")}]
        }))
        .unwrap();
        assert!(hooks(&ok).is_ok());
        let two: Request = serde_json::from_value(json!({
            "OnStart": [{"Content": "ZQ=="}, {"Content": "ZQ=="}]
        }))
        .unwrap();
        assert!(hooks(&two).is_err());
        let bad: Request = serde_json::from_value(json!({
            "OnCreate": [{"Content": "not base64!"}]
        }))
        .unwrap();
        assert!(hooks(&bad).is_err());
    }
}
