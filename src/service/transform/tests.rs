//! Transform jobs driven through `Services` on the fake engine (whose serving containers echo
//! each request), and the status table the job's state code consults.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde_json::{Value, json};

use super::TRANSFORM_STATUS;
use crate::aws::model::typed::sagemaker::TransformJobStatus::{
    self, Completed, Failed, InProgress, Stopped, Stopping,
};
use crate::runtime::fake::{FakeEngine, Script, eventually, services};
use crate::service::described::TransformJob;
use crate::service::{Input, Request, ServiceError, Services};
use crate::store::resources::ResourceKind;

fn request(v: Value) -> Request {
    v.as_object().cloned().expect("an object")
}

/// A model whose one container serves, stored as CreateModel stores it.
async fn model(s: &Services, name: &str) {
    let req = request(json!({
        "ModelName": name,
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r",
        "PrimaryContainer": {"Image": "fake/serve:1"},
    }));
    s.create_resource(ResourceKind::Model, name, req, json!({}), None)
        .await
        .expect("model");
}

/// A transform job row in `status`, as if its supervisor had got there.
async fn job_in(s: &Services, name: &str, status: TransformJobStatus) {
    s.create_resource(
        ResourceKind::TransformJob,
        name,
        request(json!({"TransformJobName": name})),
        json!({}),
        Some(status.as_str()),
    )
    .await
    .expect("job row");
}

async fn until_status(s: &Services, name: &str, statuses: &[TransformJobStatus]) -> TransformJob {
    eventually(20, &format!("{name} to be {statuses:?}"), || async {
        let job = s.describe_transform_job(name).await.ok()?;
        statuses.contains(&job.status?).then_some(job)
    })
    .await
}

#[test]
fn the_status_table_reaches_every_status_and_ends_in_the_terminal_ones() {
    let reachable = TRANSFORM_STATUS.reachable();
    for status in TransformJobStatus::ALL {
        assert!(reachable.contains(status), "{status} is unreachable");
    }
    for status in [Completed, Failed, Stopped] {
        assert!(TRANSFORM_STATUS.is_terminal(status), "{status}");
    }
    for status in [InProgress, Stopping] {
        assert!(!TRANSFORM_STATUS.is_terminal(status), "{status}");
    }
    for (from, to) in [
        (Completed, InProgress),
        (Failed, Completed),
        (Stopped, Stopping),
        (Stopping, InProgress),
        (Completed, Stopping),
    ] {
        assert!(!TRANSFORM_STATUS.allows(from, to), "{from} -> {to}");
    }
    assert!(TRANSFORM_STATUS.allows(Stopping, Stopped));
}

#[tokio::test]
async fn a_completed_job_refuses_to_move_back_and_keeps_its_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = services(dir.path(), &Arc::new(FakeEngine::default()));
    job_in(&s, "done", Completed).await;
    let refused = s
        .save_transform("done", InProgress, |d| {
            d.insert("TransformStartTime".into(), json!(1));
        })
        .await;
    match refused {
        Err(ServiceError::Internal(m)) => {
            assert_eq!(
                m,
                "transform job done: no move from Completed to InProgress"
            )
        }
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert!(s.transform_may_move("done", Failed).await.is_err());
    let job = s.describe_transform_job("done").await.expect("describe");
    assert_eq!(job.status, Some(Completed));
    assert!(job.record.derived.get("TransformStartTime").is_none());
    let stop = s
        .stop_transform_job(
            crate::aws::model::typed::decode(&request(json!({"TransformJobName": "done"})))
                .expect("decode"),
        )
        .await;
    assert!(
        matches!(&stop, Err(ServiceError::Validation(m)) if m.ends_with("is in status Completed.")),
        "{stop:?}"
    );
}

#[tokio::test]
async fn a_stopping_job_may_stop_and_a_running_one_may_be_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = services(dir.path(), &Arc::new(FakeEngine::default()));
    job_in(&s, "j", InProgress).await;
    let input = crate::aws::model::typed::decode(&request(json!({"TransformJobName": "j"})));
    s.stop_transform_job(input.expect("decode"))
        .await
        .expect("stop");
    let job = s.describe_transform_job("j").await.expect("describe");
    assert_eq!(job.status, Some(Stopping));
    s.save_transform("j", Stopped, |_| {})
        .await
        .expect("stopped");
    let job = s.describe_transform_job("j").await.expect("describe");
    assert_eq!(job.status, Some(Stopped));
}

#[tokio::test]
async fn a_transform_job_sends_its_records_through_the_model_and_writes_the_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let env_seen = seen.clone();
    fake.script(move |spec| {
        if let Ok(mut env) = env_seen.lock() {
            env.extend(spec.env.iter().cloned());
        }
        Script {
            serve: Some(true),
            ..Default::default()
        }
    });
    let s = services(dir.path(), &fake);
    model(&s, "m").await;
    for bucket in ["in", "out"] {
        s.objects.create_bucket(bucket, None).await.expect("bucket");
    }
    s.objects
        .put_bytes(
            "in",
            "data/a.csv",
            Bytes::from("1,2\n3,4\n"),
            Default::default(),
        )
        .await
        .expect("input");
    let req = request(json!({
        "TransformJobName": "tj",
        "ModelName": "m",
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 1,
        "Environment": {"MY_VAR": "x"},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/data"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": "s3://out/results", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }));
    s.create_transform_job(Input::decode(req).expect("decode"))
        .await
        .expect("create");
    let job = until_status(&s, "tj", &[Completed, Failed]).await;
    assert_eq!(
        job.status,
        Some(Completed),
        "{}",
        job.record.derived["FailureReason"]
    );
    let derived = &job.record.derived;
    assert_eq!(derived["BatchStrategy"], "MultiRecord");
    assert_eq!(derived["MaxPayloadInMB"], 1);
    assert_eq!(derived["MaxConcurrentTransforms"], 1);
    assert!(derived["TransformStartTime"].is_number() && derived["TransformEndTime"].is_number());
    let (_, path) = s
        .objects
        .object("out", "results/a.csv.out")
        .await
        .expect("output");
    let out = std::fs::read_to_string(path).expect("read output");
    assert_eq!(out, "1,2\n3,4\n");
    let env = seen.lock().expect("env").clone();
    for pair in [
        ("SAGEMAKER_BATCH", "true"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1"),
        ("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD"),
        ("MY_VAR", "x"),
    ] {
        assert!(
            env.iter().any(|(k, v)| (k.as_str(), v.as_str()) == pair),
            "{pair:?} not in {env:?}"
        );
    }
}

#[tokio::test]
async fn a_transform_job_without_its_output_bucket_fails_with_a_client_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = services(dir.path(), &Arc::new(FakeEngine::default()));
    model(&s, "m").await;
    s.objects.create_bucket("in", None).await.expect("bucket");
    let req = request(json!({
        "TransformJobName": "nobucket",
        "ModelName": "m",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/x"}}},
        "TransformOutput": {"S3OutputPath": "s3://missing/out"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }));
    s.create_transform_job(Input::decode(req).expect("decode"))
        .await
        .expect("create");
    let job = until_status(&s, "nobucket", &[Completed, Failed]).await;
    assert_eq!(job.status, Some(Failed));
    assert_eq!(
        job.record.derived["FailureReason"],
        "ClientError: The S3 bucket \"missing\" of TransformOutput.S3OutputPath (s3://missing/out) does not exist."
    );
}
