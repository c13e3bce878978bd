//! Endpoints driven through `Services` on the fake engine: creation and its health check,
//! blue/green updates and a serving container that dies, without Docker.

use std::sync::Arc;

use serde_json::{Value, json};

use super::state::ENDPOINT_LIFECYCLE;
use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::runtime::engine::ExecutionEngine;
use crate::runtime::fake::{FakeEngine, Script, eventually, services};
use crate::service::described::Endpoint;
use crate::service::{Input, ServiceError, Services};

/// A request as the api layer hands it over: validated JSON decoded into its typed input.
fn request<T: serde::de::DeserializeOwned>(v: Value) -> Input<T> {
    Input::decode(v.as_object().cloned().expect("an object")).expect("decodes")
}

/// A model and an endpoint configuration `config` for it; `health_timeout` in seconds.
async fn config(s: &Services, config: &str, health_timeout: u64) {
    let model = format!("{config}-model");
    s.create_model(request(json!({
        "ModelName": model,
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r",
        "PrimaryContainer": {"Image": "fake/serve:1"},
    })))
    .await
    .expect("model");
    s.create_endpoint_config(request(json!({
        "EndpointConfigName": config,
        "ProductionVariants": [{
            "VariantName": "v1",
            "ModelName": model,
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
            "ContainerStartupHealthCheckTimeoutInSeconds": health_timeout,
        }],
    })))
    .await
    .expect("endpoint config");
}

fn serving(healthy: bool) -> Script {
    Script {
        serve: Some(healthy),
        logs: vec!["listening on 8080".into()],
        ..Default::default()
    }
}

/// The members these tests read from DescribeEndpoint: the request's, then what sagebox
/// derived over them, with the status and ARN (the api layer renders the rest).
fn view(e: &Endpoint) -> Value {
    let mut out = e.record.request.clone();
    if let (Some(o), Some(d)) = (out.as_object_mut(), e.record.derived.as_object()) {
        o.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out["EndpointStatus"] = json!(e.status.unwrap_or(EndpointStatus::Creating).as_str());
    out["EndpointArn"] = json!(e.record.arn);
    out
}

/// DescribeEndpoint's output once its status is one of `statuses`.
async fn until_status(s: &Services, name: &str, statuses: &[&str]) -> Value {
    eventually(20, &format!("{name} to be {statuses:?}"), || async {
        let view = view(&s.describe_endpoint(name).await.ok()?);
        let status = view.get("EndpointStatus").and_then(Value::as_str)?;
        statuses.contains(&status).then_some(view)
    })
    .await
}

async fn create(s: &Services, name: &str, config: &str) {
    s.create_endpoint(request(
        json!({"EndpointName": name, "EndpointConfigName": config}),
    ))
    .await
    .expect("create endpoint");
}

#[tokio::test]
async fn an_endpoint_whose_container_answers_ping_goes_in_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| serving(true));
    let s = services(dir.path(), &fake);
    config(&s, "a", 30).await;
    create(&s, "ep", "a").await;

    let view = until_status(&s, "ep", &["InService", "Failed"]).await;
    assert_eq!(view["EndpointStatus"], "InService", "{view}");
    assert_eq!(fake.container_names().len(), 1);
    let spec = &fake.specs()[0];
    assert_eq!(spec.image, "fake/serve:1");
    assert_eq!(spec.cmd, vec!["serve".to_string()]);
}

#[tokio::test]
async fn an_endpoint_whose_container_fails_ping_fails_with_the_health_check_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| serving(false));
    let s = services(dir.path(), &fake);
    config(&s, "a", 1).await;
    create(&s, "sick", "a").await;

    let view = until_status(&s, "sick", &["InService", "Failed"]).await;
    assert_eq!(view["EndpointStatus"], "Failed", "{view}");
    let reason = view["FailureReason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(
            "The primary container for production variant v1 did not pass the ping health check: no 200 from GET /ping within 1 seconds. Last log lines: listening on 8080"
        ),
        "{reason}"
    );
    assert!(
        fake.container_names().is_empty(),
        "the unhealthy container is removed"
    );
}

#[tokio::test]
async fn update_endpoint_starts_the_new_config_then_removes_the_old_containers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| serving(true));
    let s = services(dir.path(), &fake);
    config(&s, "blue", 30).await;
    config(&s, "green", 30).await;
    create(&s, "ep", "blue").await;
    until_status(&s, "ep", &["InService", "Failed"]).await;
    let old = fake.container_names();

    s.update_endpoint(
        request(json!({"EndpointName": "ep", "EndpointConfigName": "green"})).members,
    )
    .await
    .expect("update");
    let view = view(&s.describe_endpoint("ep").await.expect("describe"));
    assert_eq!(view["EndpointStatus"], "Updating");
    let view = until_status(&s, "ep", &["InService", "Failed"]).await;
    assert_eq!(view["EndpointStatus"], "InService", "{view}");
    assert_eq!(view["EndpointConfigName"], "green");
    assert!(view.get("FailureReason").is_none(), "{view}");

    let now = fake.container_names();
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(
        !old.contains(&now[0]),
        "the new deployment's container serves"
    );
    let calls = fake.calls();
    let started_new = calls.iter().position(|c| *c == format!("run {}", now[0]));
    let removed_old = calls.iter().position(|c| c.starts_with("remove "));
    assert!(
        started_new.is_some() && started_new < removed_old,
        "green starts before blue goes: {calls:?}"
    );
}

#[tokio::test]
async fn a_serving_container_that_dies_is_started_again_and_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| serving(true));
    let s = services(dir.path(), &fake);
    config(&s, "a", 30).await;
    create(&s, "ep", "a").await;
    until_status(&s, "ep", &["InService", "Failed"]).await;
    let (id, name, _) = fake
        .containers_labelled(crate::runtime::engine::ARN_LABEL, &arn(&s, "ep").await)
        .await
        .expect("list")
        .remove(0);

    fake.exit(&name, 1);
    assert_eq!(fake.running(&id).await.expect("running"), Some(false));
    assert_eq!(fake.published_port(&id, 8080).await.expect("port"), None);
    eventually(10, "the container to be started again", || async {
        let port = fake.published_port(&id, 8080).await.ok().flatten();
        let up = fake.running(&id).await.ok().flatten() == Some(true);
        (up && port.is_some()).then_some(())
    })
    .await;
    assert!(fake.calls().contains(&format!("start {id}")));
    let port = fake
        .published_port(&id, 8080)
        .await
        .expect("port")
        .unwrap_or(0);
    eventually(10, "the restarted container to answer /ping", || async {
        s.hosting.ping(port).await.then_some(())
    })
    .await;
    let view = view(&s.describe_endpoint("ep").await.expect("describe"));
    assert_eq!(view["EndpointStatus"], "InService");
    assert_eq!(
        fake.container_names(),
        vec![name],
        "the same container, not a new one"
    );
}

async fn arn(s: &Services, endpoint: &str) -> String {
    let view = view(&s.describe_endpoint(endpoint).await.expect("describe"));
    view["EndpointArn"].as_str().unwrap_or_default().to_string()
}

#[test]
fn the_endpoint_lifecycle_reaches_every_status_the_code_writes_and_refuses_going_back() {
    use EndpointStatus::*;
    let reachable = ENDPOINT_LIFECYCLE.reachable();
    for written in [Creating, InService, Updating, Failed, Deleting] {
        assert!(reachable.contains(&written), "{written} is not reachable");
    }
    assert!(ENDPOINT_LIFECYCLE.is_terminal(Deleting));
    assert!(
        !ENDPOINT_LIFECYCLE.is_terminal(Failed),
        "a failed endpoint can be deleted"
    );
    for (from, to) in [
        (Failed, InService),
        (Failed, Updating),
        (Deleting, InService),
        (Deleting, Creating),
        (Creating, Updating),
        (InService, Failed),
    ] {
        assert!(
            ENDPOINT_LIFECYCLE.check("ep", from, to).is_err(),
            "{from} -> {to} is allowed"
        );
    }
}

#[tokio::test]
async fn the_endpoint_save_path_refuses_a_move_its_lifecycle_does_not_allow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| serving(false));
    let s = services(dir.path(), &fake);
    config(&s, "a", 1).await;
    create(&s, "sick", "a").await;
    until_status(&s, "sick", &["InService", "Failed"]).await;

    let refused = s
        .save_endpoint("sick", EndpointStatus::InService, |_| {})
        .await;
    match refused {
        Err(ServiceError::Internal(m)) => {
            assert_eq!(m, "endpoint sick: no move from Failed to InService")
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    s.save_endpoint_logged("sick", EndpointStatus::Updating, |_| {})
        .await;
    let view = view(&s.describe_endpoint("sick").await.expect("describe"));
    assert_eq!(view["EndpointStatus"], "Failed", "{view}");

    s.save_endpoint("sick", EndpointStatus::Deleting, |_| {})
        .await
        .expect("a failed endpoint may be deleted");
}

#[test]
fn a_models_containers_read_from_its_stored_request() {
    let model = |request: Value| crate::store::resources::Resource {
        name: "m".into(),
        arn: "arn:aws:sagemaker:us-east-1:000000000000:model/m".into(),
        status: None,
        created: 0.0,
        modified: 0.0,
        request,
        derived: json!({}),
    };
    let source = |uri: &str, compression: &str| {
        json!({"Image": "i", "ModelDataSource": {"S3DataSource": {
            "S3Uri": uri, "S3DataType": "S3Prefix", "CompressionType": compression}}})
    };
    let pipeline = model(json!({"Containers": [
        {"Image": "a", "ModelDataUrl": "s3://b/model.tar.gz", "Environment": {"Z": "1", "A": "2"}},
        source("s3://b/prefix", "None"),
        source("s3://b/model.tar.gz", "Gzip"),
    ]}));
    let containers = super::fleet::model_containers(&pipeline).expect("decodes");
    let data: Vec<Option<&str>> = containers.iter().map(|c| c.1.as_deref()).collect();
    assert_eq!(
        data,
        [
            Some("s3://b/model.tar.gz"),
            Some("s3://b/prefix/"),
            Some("s3://b/model.tar.gz")
        ]
    );
    assert_eq!(containers[0].0, "a");
    assert_eq!(
        containers[0].2,
        [("A".to_string(), "2".to_string()), ("Z".into(), "1".into())]
    );

    let primary = model(json!({"PrimaryContainer": {"Image": "p"}, "Containers": []}));
    let containers = super::fleet::model_containers(&primary).expect("decodes");
    assert_eq!((containers.len(), containers[0].0.as_str()), (1, "p"));
    assert!(super::fleet::model_containers(&model(json!({"Containers": 3}))).is_err());
}
