//! AddTags, ListTags and DeleteTags: tags for any SageMaker resource sagebox stores, addressed
//! by ARN.

use super::resources::Page;
use super::{ServiceError, ServiceResult, Services, pagination};
use crate::aws::arn::Arn;
use crate::store::resources::ResourceKind;
use crate::store::tags;

/// SageMaker allows 50 user tags per resource.
pub const MAX_TAGS: usize = 50;

pub fn check_count(tags: &[(String, String)]) -> ServiceResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(ServiceError::Validation(format!(
            "1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length less than or equal to {MAX_TAGS}",
            tags.len()
        )));
    }
    Ok(())
}

impl Services {
    /// Checks that the ARN names a resource sagebox holds.
    async fn tagged_resource(&self, arn: &str) -> ServiceResult<()> {
        if self.resource_kind_of(arn).await?.is_some() {
            return Ok(());
        }
        Err(ServiceError::Validation(format!(
            "Resource \"{arn}\" does not exist."
        )))
    }

    /// What the ARN names, if sagebox holds it: the resource's kind in SageMaker's words
    /// (`TrainingJob`, `Artifact`), as association summaries report it.
    pub async fn resource_kind_of(&self, arn: &str) -> ServiceResult<Option<String>> {
        let Some(parsed) = Arn::parse(arn).filter(|p| p.service == "sagemaker") else {
            return Ok(None);
        };
        let Some((arn_type, _)) = parsed.typed_resource() else {
            return Ok(None);
        };
        // kinds may share an ARN type (pipelines and their executions are both `pipeline/…`)
        for kind in ResourceKind::ALL
            .iter()
            .filter(|k| k.arn_type() == arn_type)
        {
            if self.store.resource_arn_exists(*kind, arn).await? {
                return Ok(Some(format!("{kind:?}")));
            }
        }
        // the families the stored-resource engine keeps
        Ok(self.store.stored_by_arn(arn).await?.map(|row| row.family))
    }

    pub async fn add_tags(
        &self,
        arn: &str,
        new: Vec<(String, String)>,
    ) -> ServiceResult<Vec<(String, String)>> {
        self.tagged_resource(arn).await?;
        let key = arn.to_string();
        let added = new.clone();
        self.store
            .call(move |c| {
                let tx = c.transaction()?;
                let existing = tags::list(&tx, &key)?;
                let total = existing.len()
                    + added
                        .iter()
                        .filter(|(k, _)| !existing.iter().any(|(e, _)| e == k))
                        .count();
                if total > MAX_TAGS {
                    return Ok(Err(ServiceError::LimitExceeded(format!(
                        "You can't have more than {MAX_TAGS} tags on resource {key}."
                    ))));
                }
                tags::put(&tx, &key, &added)?;
                tx.commit()?;
                Ok(Ok(()))
            })
            .await??;
        Ok(new)
    }

    pub async fn list_tags(
        &self,
        arn: &str,
        max_results: usize,
        next_token: Option<&str>,
    ) -> ServiceResult<Page<(String, String)>> {
        self.tagged_resource(arn).await?;
        let key = arn.to_string();
        let all = self.store.call(move |c| tags::list(c, &key)).await?;
        pagination::offset_page(all, next_token, max_results)
    }

    pub async fn delete_tags(&self, arn: &str, keys: Vec<String>) -> ServiceResult<()> {
        self.tagged_resource(arn).await?;
        let key = arn.to_string();
        self.store
            .call(move |c| tags::delete(c, &key, &keys))
            .await?;
        Ok(())
    }
}
