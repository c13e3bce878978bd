//! The output shapes of SageMaker's Describe* and List* operations, rendered from what the
//! services return. Every default a client sees when sagebox has not recorded a member yet
//! (a status before the first save, LastModifiedTime before any change) is decided here.

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::service::described::{
    Endpoint, EndpointConfig, Model, NotebookInstance, NotebookLifecycleConfig,
    ProductionVariantStatus, Record, TrainingJob, TransformJob,
};
use crate::service::resources::Page;

pub fn describe_model(m: Model) -> Value {
    Value::Object(echo(m.record, "ModelName", "ModelArn", Derived::Visible))
}

pub fn list_models(page: Page<Model>) -> Value {
    page_of("Models", page, |m| {
        identity(&m.record, "ModelName", "ModelArn")
    })
}

pub fn describe_endpoint_config(c: EndpointConfig) -> Value {
    Value::Object(echo(
        c.record,
        "EndpointConfigName",
        "EndpointConfigArn",
        Derived::All,
    ))
}

pub fn list_endpoint_configs(page: Page<EndpointConfig>) -> Value {
    page_of("EndpointConfigs", page, |c| {
        identity(&c.record, "EndpointConfigName", "EndpointConfigArn")
    })
}

pub fn describe_training_job(j: TrainingJob) -> Value {
    let mut out = echo(j.record, "TrainingJobName", "TrainingJobArn", Derived::All);
    out.insert(
        "TrainingJobStatus".into(),
        json!(training_job_status(j.status)),
    );
    Value::Object(out)
}

pub fn list_training_jobs(page: Page<TrainingJob>) -> Value {
    page_of("TrainingJobSummaries", page, |j| {
        let mut v = identity(&j.record, "TrainingJobName", "TrainingJobArn");
        v["TrainingJobStatus"] = json!(training_job_status(j.status));
        v["LastModifiedTime"] = last_modified(&j.record);
        copy_present(&mut v, &j.record, &["TrainingEndTime", "SecondaryStatus"]);
        v
    })
}

/// A job's status; a row written before its first state save is InProgress.
fn training_job_status(
    status: Option<crate::aws::model::typed::sagemaker::TrainingJobStatus>,
) -> &'static str {
    use crate::aws::model::typed::sagemaker::TrainingJobStatus;
    status.unwrap_or(TrainingJobStatus::InProgress).as_str()
}

pub fn describe_endpoint(e: &Endpoint) -> Value {
    let r = &e.record;
    let mut out = Map::new();
    out.insert("EndpointName".into(), json!(r.name));
    out.insert("EndpointArn".into(), json!(r.arn));
    for k in ["EndpointConfigName", "DeploymentConfig"] {
        if let Some(v) = r.request.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    out.extend(visible(&r.derived).map(|(k, v)| (k.clone(), v.clone())));
    if let Some(variants) = &e.variants {
        let list = variants.iter().map(production_variant).collect();
        out.insert("ProductionVariants".into(), Value::Array(list));
    }
    out.insert("EndpointStatus".into(), json!(endpoint_status(e)));
    out.insert("CreationTime".into(), json!(r.created));
    out.entry("LastModifiedTime").or_insert(json!(r.modified));
    Value::Object(out)
}

/// An endpoint's status; one not yet saved reads as the first, Creating.
fn endpoint_status(e: &Endpoint) -> &'static str {
    e.status.unwrap_or(EndpointStatus::Creating).as_str()
}

/// A deployed variant: weights are not changed gradually, so current and desired agree.
fn production_variant(v: &ProductionVariantStatus) -> Value {
    json!({
        "VariantName": v.variant_name,
        "DeployedImages": v.deployed_images,
        "CurrentWeight": v.weight,
        "DesiredWeight": v.weight,
        "CurrentInstanceCount": v.current_instance_count,
        "DesiredInstanceCount": v.desired_instance_count,
    })
}

pub fn list_endpoints(page: Page<Endpoint>) -> Value {
    page_of("Endpoints", page, |e| {
        let mut v = identity(&e.record, "EndpointName", "EndpointArn");
        v["LastModifiedTime"] = last_modified(&e.record);
        v["EndpointStatus"] = json!(endpoint_status(e));
        v
    })
}

pub fn describe_transform_job(j: TransformJob) -> Value {
    let mut out = echo(
        j.record,
        "TransformJobName",
        "TransformJobArn",
        Derived::Visible,
    );
    out.insert(
        "TransformJobStatus".into(),
        json!(transform_status(j.status)),
    );
    Value::Object(out)
}

pub fn list_transform_jobs(page: Page<TransformJob>) -> Value {
    page_of("TransformJobSummaries", page, |j| {
        let mut v = identity(&j.record, "TransformJobName", "TransformJobArn");
        v["LastModifiedTime"] = last_modified(&j.record);
        v["TransformJobStatus"] = json!(transform_status(j.status));
        copy_present(&mut v, &j.record, &["TransformEndTime", "FailureReason"]);
        v
    })
}

/// A transform job reads InProgress until its first state save.
fn transform_status(
    status: Option<crate::aws::model::typed::sagemaker::TransformJobStatus>,
) -> &'static str {
    use crate::aws::model::typed::sagemaker::TransformJobStatus;
    status.unwrap_or(TransformJobStatus::InProgress).as_str()
}

/// A notebook instance is described from what sagebox derived alone: its request's members are
/// copied there at creation and changed there by updates. Members set to null were removed.
pub fn describe_notebook_instance(nb: &NotebookInstance) -> Value {
    let r = &nb.record;
    let mut out: Map<String, Value> = visible(&r.derived)
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("NotebookInstanceArn".into(), json!(r.arn));
    out.insert("NotebookInstanceName".into(), json!(r.name));
    out.insert(
        "NotebookInstanceStatus".into(),
        json!(notebook_status(nb).as_str()),
    );
    out.insert("CreationTime".into(), json!(r.created));
    Value::Object(out)
}

pub fn list_notebook_instances(page: Page<NotebookInstance>) -> Value {
    const SHOWN: [&str; 5] = [
        "Url",
        "InstanceType",
        "NotebookInstanceLifecycleConfigName",
        "DefaultCodeRepository",
        "AdditionalCodeRepositories",
    ];
    page_of("NotebookInstances", page, |nb| {
        let r = &nb.record;
        let mut v = identity(r, "NotebookInstanceName", "NotebookInstanceArn");
        v["NotebookInstanceStatus"] = json!(notebook_status(nb).as_str());
        v["LastModifiedTime"] = last_modified(r);
        for m in SHOWN {
            if let Some(x) = r.derived.get(m).filter(|x| !x.is_null()) {
                v[m] = x.clone();
            }
        }
        v
    })
}

use crate::aws::model::typed::sagemaker::NotebookInstanceStatus;

/// A notebook instance not saved since creation is Pending.
fn notebook_status(nb: &NotebookInstance) -> NotebookInstanceStatus {
    nb.status.unwrap_or(NotebookInstanceStatus::Pending)
}

const LIFECYCLE_NAME: &str = "NotebookInstanceLifecycleConfigName";
const LIFECYCLE_ARN: &str = "NotebookInstanceLifecycleConfigArn";

pub fn describe_notebook_lifecycle_config(c: &NotebookLifecycleConfig) -> Value {
    let mut out = identity(&c.record, LIFECYCLE_NAME, LIFECYCLE_ARN);
    out["LastModifiedTime"] = last_modified(&c.record);
    copy_present(&mut out, &c.record, &["OnCreate", "OnStart"]);
    out
}

pub fn list_notebook_lifecycle_configs(page: Page<NotebookLifecycleConfig>) -> Value {
    page_of("NotebookInstanceLifecycleConfigs", page, |c| {
        let mut v = identity(&c.record, LIFECYCLE_NAME, LIFECYCLE_ARN);
        v["LastModifiedTime"] = last_modified(&c.record);
        v
    })
}

/// Which derived members a Describe shows: all, or all but sagebox's `_` bookkeeping.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Derived {
    All,
    Visible,
}

/// Describe output that echoes the request: the stored request, the derived members over it,
/// then identity and time. Takes the record whole: Describe is the SDK waiters' hot path.
pub(super) fn echo(
    r: Record,
    name_member: &str,
    arn_member: &str,
    derived: Derived,
) -> Map<String, Value> {
    let mut out = match r.request {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(d) = r.derived {
        out.extend(
            d.into_iter()
                .filter(|(k, _)| derived == Derived::All || !k.starts_with('_')),
        );
    }
    out.insert(name_member.into(), json!(r.name));
    out.insert(arn_member.into(), json!(r.arn));
    out.insert("CreationTime".into(), json!(r.created));
    out
}

/// Name, ARN and creation time: the members every summary starts from.
fn identity(r: &Record, name_member: &str, arn_member: &str) -> Value {
    json!({ name_member: r.name, arn_member: r.arn, "CreationTime": r.created })
}

/// Derived members, less sagebox's own (named with a leading `_`).
fn visible(derived: &Value) -> impl Iterator<Item = (&String, &Value)> {
    derived
        .as_object()
        .into_iter()
        .flat_map(|d| d.iter())
        .filter(|(k, _)| !k.starts_with('_'))
}

/// LastModifiedTime as the service recorded it, else the row's own change time.
pub(super) fn last_modified(r: &Record) -> Value {
    r.derived
        .get("LastModifiedTime")
        .cloned()
        .unwrap_or(json!(r.modified))
}

/// Copies each of `members` that the derived members hold.
pub(super) fn copy_present(out: &mut Value, r: &Record, members: &[&str]) {
    for m in members {
        if let Some(x) = r.derived.get(*m) {
            out[*m] = x.clone();
        }
    }
}

/// A List* answer: the items under `member`, and NextToken when there are more.
pub(super) fn page_of<T>(member: &str, page: Page<T>, item: impl Fn(&T) -> Value) -> Value {
    let items: Vec<Value> = page.items.iter().map(item).collect();
    let mut out = json!({ member: items });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(request: Value, derived: Value) -> Record {
        Record {
            name: "ep".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep".into(),
            created: 1.0,
            modified: 2.0,
            request,
            derived,
        }
    }

    #[test]
    fn describe_endpoint_shows_live_variants_and_hides_sageboxs_own_members() {
        let e = Endpoint {
            record: record(
                json!({"EndpointName": "ep", "EndpointConfigName": "c", "Tags": []}),
                json!({"_Deployment": "abc", "ProductionVariants": "saved", "LastModifiedTime": 3.0}),
            ),
            status: Some(EndpointStatus::InService),
            variants: Some(vec![ProductionVariantStatus {
                variant_name: "v".into(),
                deployed_images: json!([]),
                weight: 0.5,
                current_instance_count: 1,
                desired_instance_count: 2,
            }]),
        };
        let d = describe_endpoint(&e);
        assert_eq!(d["EndpointStatus"], "InService");
        assert_eq!(d["EndpointConfigName"], "c");
        assert_eq!(d["LastModifiedTime"], 3.0);
        assert!(
            d.get("_Deployment").is_none() && d.get("Tags").is_none(),
            "{d}"
        );
        assert_eq!(
            d["ProductionVariants"],
            json!([{"VariantName": "v", "DeployedImages": [], "CurrentWeight": 0.5,
                    "DesiredWeight": 0.5, "CurrentInstanceCount": 1, "DesiredInstanceCount": 2}])
        );
    }

    #[test]
    fn statuses_not_yet_saved_read_as_each_familys_first_status() {
        let r = record(json!({}), json!({}));
        let jobs = list_training_jobs(Page {
            items: vec![TrainingJob {
                record: r.clone(),
                status: None,
            }],
            next_token: Some("t".into()),
        });
        assert_eq!(
            jobs["TrainingJobSummaries"][0]["TrainingJobStatus"],
            "InProgress"
        );
        assert_eq!(jobs["TrainingJobSummaries"][0]["LastModifiedTime"], 2.0);
        assert_eq!(jobs["NextToken"], "t");
        let eps = list_endpoints(Page {
            items: vec![Endpoint {
                record: r.clone(),
                status: None,
                variants: None,
            }],
            next_token: None,
        });
        assert!(eps.get("NextToken").is_none());
        assert_eq!(eps["Endpoints"][0]["EndpointStatus"], "Creating");
        let nb = describe_notebook_instance(&NotebookInstance {
            record: r,
            status: None,
        });
        assert_eq!(nb["NotebookInstanceStatus"], "Pending");
    }
}
