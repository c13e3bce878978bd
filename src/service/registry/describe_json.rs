//! DescribeModelPackage's output and the package summaries of ListModelPackages and
//! BatchDescribeModelPackage. They live in the service layer because a pipeline's RegisterModel
//! step reports the DescribeModelPackage JSON as its properties, as SageMaker does.

use serde_json::{Map, Value, json};

use super::ModelPackage;
use super::groups::ModelPackageGroup;

/// What SageMaker reports for a package it ran no validation or image scan on.
fn status_details() -> Value {
    json!({ "ValidationStatuses": [], "ImageScanStatuses": [] })
}

/// DescribeModelPackage: the request as sent with what sagebox derived or updates changed over
/// it (less its `_` bookkeeping and the ClientToken), then identity, status and times.
pub fn render_describe_model_package(p: &ModelPackage) -> Value {
    let r = &p.record;
    let mut out = match &r.request {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    out.remove("ClientToken");
    if let Value::Object(d) = &r.derived {
        out.extend(
            d.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    out.insert("ModelPackageName".into(), json!(p.name()));
    out.insert("ModelPackageArn".into(), json!(r.arn));
    out.insert("CreationTime".into(), json!(r.created));
    out.insert("ModelPackageStatus".into(), json!(p.status));
    out.entry("ModelPackageStatusDetails")
        .or_insert_with(status_details);
    out.entry("CertifyForMarketplace").or_insert(json!(false));
    out.entry("LastModifiedTime").or_insert(json!(r.modified));
    Value::Object(out)
}

/// ModelPackageSummary (ListModelPackages).
pub fn render_model_package_summary(p: &ModelPackage) -> Value {
    let mut v = json!({
        "ModelPackageName": p.name(),
        "ModelPackageArn": p.record.arn,
        "CreationTime": p.record.created,
        "ModelPackageStatus": p.status,
    });
    copy_members(
        p,
        &mut v,
        &[
            "ModelPackageGroupName",
            "ModelPackageVersion",
            "ModelPackageDescription",
            "ModelApprovalStatus",
            "ModelLifeCycle",
            "ModelPackageRegistrationType",
        ],
    );
    v
}

/// BatchDescribeModelPackageSummary.
pub fn render_batch_summary(p: &ModelPackage) -> Value {
    let mut v = json!({
        "ModelPackageGroupName": p.name(),
        "ModelPackageArn": p.record.arn,
        "CreationTime": p.record.created,
        "ModelPackageStatus": p.status,
        "InferenceSpecification": p.member("InferenceSpecification").cloned().unwrap_or(json!({"Containers": []})),
    });
    copy_members(
        p,
        &mut v,
        &[
            "ModelPackageVersion",
            "ModelPackageDescription",
            "ModelApprovalStatus",
            "ModelPackageRegistrationType",
        ],
    );
    v
}

fn copy_members(p: &ModelPackage, v: &mut Value, names: &[&str]) {
    for m in names {
        if let Some(x) = p.member(m) {
            v[*m] = x.clone();
        }
    }
}

/// DescribeModelPackageGroup.
pub fn render_describe_model_package_group(g: &ModelPackageGroup) -> Value {
    let mut v = render_model_package_group_summary(g);
    v["CreatedBy"] = json!({});
    v
}

/// ModelPackageGroupSummary (ListModelPackageGroups).
pub fn render_model_package_group_summary(g: &ModelPackageGroup) -> Value {
    let r = &g.record;
    let mut v = json!({
        "ModelPackageGroupName": r.name,
        "ModelPackageGroupArn": r.arn,
        "CreationTime": r.created,
        "ModelPackageGroupStatus": g.status,
    });
    for m in ["ModelPackageGroupDescription", "ManagedConfiguration"] {
        if let Some(x) = r.request.get(m) {
            v[m] = x.clone();
        }
    }
    v
}
