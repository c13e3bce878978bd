//! Inference components driven through `Services` on the fake engine: an endpoint that only
//! hosts capacity, a component's copies started with its resource requirements, scaled,
//! removed, and one that fails its health check, without Docker.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::runtime::fake::{FakeEngine, Script, eventually, services};
use crate::service::{Input, Services};

fn request<T: serde::de::DeserializeOwned>(v: Value) -> Input<T> {
    Input::decode(v.as_object().cloned().expect("an object")).expect("decodes")
}

/// A serving endpoint whose one variant names no model.
async fn capacity_endpoint(s: &Services, name: &str) {
    s.create_endpoint_config(request(json!({
        "EndpointConfigName": format!("{name}-config"),
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r",
        "ProductionVariants": [{
            "VariantName": "AllTraffic",
            "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large",
        }],
    })))
    .await
    .expect("endpoint config");
    s.create_endpoint(request(
        json!({"EndpointName": name, "EndpointConfigName": format!("{name}-config")}),
    ))
    .await
    .expect("endpoint");
    eventually(20, "the endpoint to be InService", || async {
        let e = s.describe_endpoint(name).await.ok()?;
        (e.status.map(|st| st.as_str()) == Some("InService")).then_some(())
    })
    .await;
}

async fn create(s: &Services, name: &str, endpoint: &str, image: &str, copies: u32) {
    s.create_inference_component(request(json!({
        "InferenceComponentName": name,
        "EndpointName": endpoint,
        "Specification": {
            "Container": {"Image": image, "Environment": {"A": "1"}},
            "StartupParameters": {"ContainerStartupHealthCheckTimeoutInSeconds": 1},
            "ComputeResourceRequirements": {"NumberOfCpuCoresRequired": 1, "MinMemoryRequiredInMb": 300},
        },
        "RuntimeConfig": {"CopyCount": copies},
    })))
    .await
    .expect("create inference component");
}

/// (status, current copies) once the status is one of `statuses`.
async fn until(s: &Services, name: &str, statuses: &[&str]) -> (String, usize, Value) {
    eventually(20, &format!("{name} to be {statuses:?}"), || async {
        let ic = s.describe_inference_component(name).await.ok()?;
        let status = ic.row.status.clone()?;
        statuses
            .contains(&status.as_str())
            .then(|| (status, ic.current_copies, ic.row.derived.clone()))
    })
    .await
}

#[tokio::test]
async fn a_component_runs_its_copies_scales_and_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|spec| Script {
        serve: Some(!spec.image.contains("sick")),
        logs: vec!["listening on 8080".into()],
        ..Default::default()
    });
    let s = services(dir.path(), &fake);
    capacity_endpoint(&s, "ep").await;
    assert!(fake.container_names().is_empty(), "capacity runs nothing");
    let e = s.describe_endpoint("ep").await.expect("endpoint");
    let variants = e.variants.expect("live variants");
    assert_eq!(variants[0].current_instance_count, 2);

    create(&s, "ic", "ep", "fake/serve:1", 2).await;
    let (status, copies, _) = until(&s, "ic", &["InService", "Failed"]).await;
    assert_eq!((status.as_str(), copies), ("InService", 2));
    let specs = fake.specs();
    assert_eq!(specs.len(), 2);
    assert!(
        specs
            .iter()
            .all(|c| c.cpus == Some(1) && c.memory_mib == Some(300))
    );
    assert!(
        specs
            .iter()
            .all(|c| c.env.contains(&("A".into(), "1".into())))
    );

    // the endpoint cannot go while the component is on it
    let refused = s.delete_endpoint("ep").await.expect_err("refused");
    assert!(refused.to_string().contains("ic"), "{refused}");

    s.update_inference_component_runtime_config(request(json!({
        "InferenceComponentName": "ic", "DesiredRuntimeConfig": {"CopyCount": 1}})))
        .await
        .expect("scale");
    let (status, copies, _) = until(&s, "ic", &["InService"]).await;
    assert_eq!((status.as_str(), copies), ("InService", 1));
    eventually(20, "one container left", || async {
        (fake.container_names().len() == 1).then_some(())
    })
    .await;

    s.delete_inference_component("ic").await.expect("delete");
    eventually(20, "the component gone", || async {
        s.describe_inference_component("ic")
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(fake.container_names().is_empty());

    // a component whose container never answers /ping fails, saying what to look at
    create(&s, "sick", "ep", "fake/sick:1", 1).await;
    let (status, _, derived) = until(&s, "sick", &["InService", "Failed"]).await;
    assert_eq!(status, "Failed");
    let reason = derived["FailureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("for inference component sick did not pass the ping health check")
            && reason.contains("/aws/sagemaker/InferenceComponents/sick"),
        "{reason}"
    );
    assert!(fake.container_names().is_empty());
}
