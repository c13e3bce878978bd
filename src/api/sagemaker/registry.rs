//! The model registry on the wire: model package groups and model packages. Each operation
//! decodes its typed input, calls one service method and renders the output shape; the
//! package renderers live in `service::registry` because pipelines report them too.

use serde_json::{Map, Value, json};

use super::Answer;
use super::list::{DEFAULT_MAX_RESULTS, max_results};
use crate::aws::model::typed::decode;
use crate::aws::model::typed::sagemaker::{
    BatchDescribeModelPackageInput, ListModelPackageGroupsInput, ListModelPackagesInput,
    ModelPackageGroupSortBy, ModelPackageSortBy, SortOrder,
};
use crate::service::registry::{
    ModelPackageListParams, render_batch_summary, render_describe_model_package,
    render_describe_model_package_group, render_model_package_group_summary,
    render_model_package_summary,
};
use crate::service::resources::ListParams;
use crate::service::{Input, Request, ServiceError, Services, required_str};
use crate::store::resources::{ListQuery, SortKey};

const GROUP: &str = "ModelPackageGroupName";
const PACKAGE: &str = "ModelPackageName";

pub(super) async fn create_model_package_group(s: &Services, req: Request) -> Answer {
    let group = s.create_model_package_group(Input::decode(req)?).await?;
    Ok(json!({ "ModelPackageGroupArn": group.arn }))
}

pub(super) async fn describe_model_package_group(s: &Services, req: Request) -> Answer {
    let g = s
        .describe_model_package_group(required_str(&req, GROUP)?)
        .await?;
    Ok(render_describe_model_package_group(&g))
}

pub(super) async fn list_model_package_groups(s: &Services, req: Request) -> Answer {
    let input: ListModelPackageGroupsInput = decode(&req).map_err(ServiceError::Validation)?;
    let page = s.list_model_package_groups(group_params(&input)).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(render_model_package_group_summary)
        .collect();
    Ok(with_token(
        json!({ "ModelPackageGroupSummaryList": items }),
        page.next_token,
    ))
}

pub(super) async fn delete_model_package_group(s: &Services, req: Request) -> Answer {
    s.delete_model_package_group(required_str(&req, GROUP)?)
        .await?;
    Ok(json!({}))
}

pub(super) async fn create_model_package(s: &Services, req: Request) -> Answer {
    let package = s.create_model_package(Input::decode(req)?).await?;
    Ok(json!({ "ModelPackageArn": package.arn }))
}

pub(super) async fn describe_model_package(s: &Services, req: Request) -> Answer {
    let p = s
        .describe_model_package(required_str(&req, PACKAGE)?)
        .await?;
    Ok(render_describe_model_package(&p))
}

pub(super) async fn list_model_packages(s: &Services, req: Request) -> Answer {
    let input: ListModelPackagesInput = decode(&req).map_err(ServiceError::Validation)?;
    let page = s.list_model_packages(package_params(input)).await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(render_model_package_summary)
        .collect();
    Ok(with_token(
        json!({ "ModelPackageSummaryList": items }),
        page.next_token,
    ))
}

pub(super) async fn update_model_package(s: &Services, req: Request) -> Answer {
    let package = s.update_model_package(Input::decode(req)?).await?;
    Ok(json!({ "ModelPackageArn": package.arn }))
}

pub(super) async fn delete_model_package(s: &Services, req: Request) -> Answer {
    s.delete_model_package(required_str(&req, PACKAGE)?).await?;
    Ok(json!({}))
}

/// Found packages by ARN in ModelPackageSummaries; the rest, with why, in the error map.
pub(super) async fn batch_describe_model_package(s: &Services, req: Request) -> Answer {
    let input: BatchDescribeModelPackageInput = decode(&req).map_err(ServiceError::Validation)?;
    let arns = input.model_package_arn_list.unwrap_or_default();
    let (mut found, mut errors) = (Map::new(), Map::new());
    for (arn, result) in s.batch_describe_model_packages(&arns).await {
        match result {
            Ok(p) => {
                found.insert(arn, render_batch_summary(&p));
            }
            Err(e) => {
                let e = super::map_error(e);
                let error = json!({ "ErrorCode": e.code, "ErrorResponse": e.message });
                errors.insert(arn, error);
            }
        }
    }
    Ok(json!({
        "ModelPackageSummaries": found,
        "BatchDescribeModelPackageErrorMap": errors,
    }))
}

fn with_token(mut out: Value, token: Option<String>) -> Value {
    if let Some(t) = token {
        out["NextToken"] = json!(t);
    }
    out
}

/// ListModelPackageGroups' members; defaults as documented (CreationTime, Ascending).
fn group_params(l: &ListModelPackageGroupsInput) -> ListParams {
    ListParams {
        query: ListQuery {
            name_contains: l.name_contains.clone(),
            created_after: l.creation_time_after.map(|t| t.0),
            created_before: l.creation_time_before.map(|t| t.0),
            status_equals: None,
            sort: if l.sort_by == Some(ModelPackageGroupSortBy::Name) {
                SortKey::Name
            } else {
                SortKey::CreationTime
            },
            descending: l.sort_order == Some(SortOrder::Descending),
            after: None,
            limit: max_results(l.max_results, DEFAULT_MAX_RESULTS),
        },
        next_token: l.next_token.clone(),
    }
}

/// ListModelPackages' members; defaults as documented (CreationTime, Ascending).
fn package_params(l: ListModelPackagesInput) -> ModelPackageListParams {
    ModelPackageListParams {
        group: l.model_package_group_name,
        approval: l.model_approval_status,
        package_type: l.model_package_type,
        name_contains: l.name_contains,
        created_after: l.creation_time_after.map(|t| t.0),
        created_before: l.creation_time_before.map(|t| t.0),
        by_name: l.sort_by == Some(ModelPackageSortBy::Name),
        descending: l.sort_order == Some(SortOrder::Descending),
        limit: max_results(l.max_results, DEFAULT_MAX_RESULTS),
        next_token: l.next_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_defaults_are_oldest_first() {
        let g = group_params(&ListModelPackageGroupsInput::default());
        assert!(!g.query.descending);
        assert_eq!(g.query.sort, SortKey::CreationTime);
        assert_eq!(g.query.limit, DEFAULT_MAX_RESULTS);
        let p = package_params(
            serde_json::from_value(
                json!({"SortBy": "Name", "SortOrder": "Descending", "MaxResults": 2}),
            )
            .expect("decodes"),
        );
        assert!(p.by_name && p.descending);
        assert_eq!(p.limit, 2);
        assert!(p.package_type.is_none());
    }
}
