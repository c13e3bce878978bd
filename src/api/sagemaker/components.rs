//! Inference components (service/hosting/components): Create, Update, UpdateRuntimeConfig and
//! Delete run the component's copies; Describe and List are the stored engine's rendering of
//! the component's row (`stored`), with what only the running copies know put in: the
//! runtime config as DesiredCopyCount / CurrentCopyCount, and a container's DeployedImage.

use serde_json::{Value, json};

use super::{Answer, empty, stored};
use crate::service::hosting::components::InferenceComponent;
use crate::service::stored::catalog::catalog;
use crate::service::{Input, Request, Services, required_str};

const NAME: &str = "InferenceComponentName";

fn family() -> &'static crate::service::stored::catalog::Family {
    catalog()
        .family("InferenceComponent")
        .expect("the model defines InferenceComponent")
}

pub(super) async fn create(s: &Services, req: Request) -> Answer {
    let row = s.create_inference_component(Input::decode(req)?).await?;
    Ok(json!({ "InferenceComponentArn": row.arn }))
}

pub(super) async fn describe(s: &Services, req: Request) -> Answer {
    let ic = s
        .describe_inference_component(required_str(&req, NAME)?)
        .await?;
    Ok(render(ic))
}

pub(super) async fn list(s: &Services, req: Request) -> Answer {
    stored::list_among(s, family(), &req, None).await
}

pub(super) async fn update(s: &Services, req: Request) -> Answer {
    let row = s.update_inference_component(Input::decode(req)?).await?;
    Ok(json!({ "InferenceComponentArn": row.arn }))
}

pub(super) async fn update_runtime_config(s: &Services, req: Request) -> Answer {
    let row = s
        .update_inference_component_runtime_config(Input::decode(req)?)
        .await?;
    Ok(json!({ "InferenceComponentArn": row.arn }))
}

pub(super) async fn delete(s: &Services, req: Request) -> Answer {
    s.delete_inference_component(required_str(&req, NAME)?)
        .await?;
    empty()
}

/// DescribeInferenceComponent: the row as the engine renders it, the Specification's Container
/// and the RuntimeConfig in their summary shapes.
fn render(ic: InferenceComponent) -> Value {
    let mut out = stored::describe(family(), ic.row);
    out["RuntimeConfig"] = json!({
        "DesiredCopyCount": ic.desired_copies,
        "CurrentCopyCount": ic.current_copies,
    });
    if let Some(container) = out
        .get_mut("Specification")
        .and_then(|s| s.get_mut("Container"))
        .and_then(Value::as_object_mut)
    {
        let specified = container.remove("Image");
        let deployed = ic
            .deployed_image
            .or_else(|| specified.map(|i| json!({ "SpecifiedImage": i })));
        if let Some(d) = deployed {
            container.insert("DeployedImage".into(), d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::stored::StoredRow;

    #[test]
    fn describe_shows_copy_counts_and_the_deployed_image() {
        let row = StoredRow {
            family: "InferenceComponent".into(),
            key: "ic".into(),
            arn: "arn:aws:sagemaker:us-east-1:000000000000:inference-component/ic".into(),
            status: Some("InService".into()),
            next_status: None,
            next_at: None,
            created: 1.0,
            modified: 2.0,
            request: json!({"InferenceComponentName": "ic", "EndpointName": "ep",
                            "VariantName": "AllTraffic",
                            "Specification": {"Container": {"Image": "img", "ArtifactUrl": "s3://b/k"}},
                            "RuntimeConfig": {"CopyCount": 2}}),
            derived: json!({"EndpointArn": "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep"}),
        };
        let out = render(InferenceComponent {
            row,
            desired_copies: 2,
            current_copies: 1,
            deployed_image: Some(json!({"SpecifiedImage": "img", "ResolvedImage": "local"})),
        });
        assert_eq!(
            out["RuntimeConfig"],
            json!({"DesiredCopyCount": 2, "CurrentCopyCount": 1})
        );
        assert_eq!(
            out["Specification"]["Container"],
            json!({"DeployedImage": {"SpecifiedImage": "img", "ResolvedImage": "local"}, "ArtifactUrl": "s3://b/k"})
        );
        assert_eq!(out["InferenceComponentStatus"], json!("InService"));
        assert_eq!(out["EndpointName"], json!("ep"));
    }
}
