//! ListPipelines and ListPipelineVersions: filters and orders applied in memory (a name prefix
//! and a version list are not what the store's generic listing filters by), pages kept by
//! offset tokens.

use super::versions::{self, PipelineVersion};
use super::{Pipeline, Services};
use crate::service::resources::Page;
use crate::service::{ServiceResult, pagination};

/// ListPipelines' filters and order.
#[derive(Debug, Clone, Default)]
pub struct PipelineListParams {
    pub name_prefix: Option<String>,
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    pub by_name: bool,
    pub descending: bool,
    pub max_results: usize,
    pub next_token: Option<String>,
}

/// ListPipelineVersions' filters and order (by version, which is creation order).
#[derive(Debug, Clone, Default)]
pub struct VersionListParams {
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    pub descending: bool,
    pub max_results: usize,
    pub next_token: Option<String>,
}

/// The page of `items` a token (an offset) and a page size pick.
pub(super) fn page_of<T: Clone>(
    items: &[T],
    limit: usize,
    token: Option<&str>,
) -> ServiceResult<Page<T>> {
    let offset = token
        .map(pagination::decode_offset)
        .transpose()?
        .unwrap_or(0);
    let limit = limit.max(1);
    let page: Vec<T> = items.iter().skip(offset).take(limit).cloned().collect();
    let next_token =
        (offset + limit < items.len()).then(|| pagination::encode_offset(offset + limit));
    Ok(Page {
        items: page,
        next_token,
    })
}

/// Whether `t` lies strictly between the bounds given.
pub(super) fn within(t: f64, after: Option<f64>, before: Option<f64>) -> bool {
    after.is_none_or(|a| t > a) && before.is_none_or(|b| t < b)
}

impl Services {
    pub async fn list_pipelines(&self, p: PipelineListParams) -> ServiceResult<Page<Pipeline>> {
        let prefix = p.name_prefix.as_deref().map(str::to_ascii_lowercase);
        let mut found: Vec<Pipeline> = self
            .pipeline_rows()
            .await?
            .iter()
            .filter(|r| {
                prefix
                    .as_deref()
                    .is_none_or(|x| r.name.to_ascii_lowercase().starts_with(x))
            })
            .filter(|r| within(r.created, p.created_after, p.created_before))
            .map(Pipeline::from_row)
            .collect();
        found.sort_by(|a, b| {
            let (a, b) = (&a.record, &b.record);
            let order = if p.by_name {
                a.name.cmp(&b.name)
            } else {
                a.created
                    .total_cmp(&b.created)
                    .then_with(|| a.name.cmp(&b.name))
            };
            if p.descending { order.reverse() } else { order }
        });
        page_of(&found, p.max_results, p.next_token.as_deref())
    }

    /// The pipeline's ARN and one page of its versions.
    pub async fn list_pipeline_versions(
        &self,
        name_or_arn: &str,
        p: VersionListParams,
    ) -> ServiceResult<(String, Page<PipelineVersion>)> {
        let row = self.pipeline_row(name_or_arn).await?;
        let mut vs: Vec<PipelineVersion> = versions::versions(&row.derived)
            .into_iter()
            .filter(|v| within(v.created, p.created_after, p.created_before))
            .collect();
        vs.sort_by_key(|v| v.id);
        if p.descending {
            vs.reverse();
        }
        let page = page_of(&vs, p.max_results, p.next_token.as_deref())?;
        Ok((row.arn.clone(), page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_to_the_end() {
        let items: Vec<u32> = (0..5).collect();
        let first = page_of(&items, 2, None).expect("a page");
        assert_eq!(first.items, [0, 1]);
        let second = page_of(&items, 2, first.next_token.as_deref()).expect("a page");
        assert_eq!(second.items, [2, 3]);
        let last = page_of(&items, 2, second.next_token.as_deref()).expect("a page");
        assert_eq!(last.items, [4]);
        assert!(last.next_token.is_none());
        assert!(page_of(&items, 2, Some("garbage!")).is_err());
    }

    #[test]
    fn bounds_are_strict_and_optional() {
        assert!(within(5.0, None, None));
        assert!(within(5.0, Some(4.0), Some(6.0)));
        assert!(!within(5.0, Some(5.0), None));
        assert!(!within(5.0, None, Some(5.0)));
    }
}
