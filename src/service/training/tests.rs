//! The training supervisor driven through `Services` on the fake engine: each test walks one
//! lifecycle the way the api does (create, then poll describe) without Docker.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateTrainingJobRequest, SecondaryStatus, TrainingJobStatus,
};
use crate::runtime::engine::ContainerSpec;
use crate::runtime::fake::{FakeEngine, Script, eventually, services};
use crate::service::described::TrainingJob;
use crate::service::training::staging;
use crate::service::training::state::JobState;
use crate::service::{Input, ServiceError, Services};
use crate::store::resources::ResourceKind;

fn job(name: &str, max_runtime: u64) -> Input<CreateTrainingJobRequest> {
    let req = json!({
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::000000000000:role/r",
        "AlgorithmSpecification": {"TrainingImage": "fake/algo:1", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://out/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    });
    Input::decode(req.as_object().cloned().expect("an object")).expect("a request")
}

async fn with_bucket(s: &Services) {
    s.objects
        .create_bucket("out", None)
        .await
        .expect("bucket out");
}

/// The statuses a job ends in.
const ENDED: [TrainingJobStatus; 3] = [
    TrainingJobStatus::Completed,
    TrainingJobStatus::Failed,
    TrainingJobStatus::Stopped,
];

/// The job once its status is one of `statuses`.
async fn until_status(s: &Services, name: &str, statuses: &[TrainingJobStatus]) -> TrainingJob {
    eventually(20, &format!("{name} to be {statuses:?}"), || async {
        let res = s.describe_training_job(name).await.ok()?;
        res.status
            .is_some_and(|s| statuses.contains(&s))
            .then_some(res)
    })
    .await
}

/// The job once its SecondaryStatus is `secondary`.
async fn until_secondary(s: &Services, name: &str, secondary: SecondaryStatus) -> TrainingJob {
    eventually(20, &format!("{name} to reach {secondary}"), || async {
        let res = s.describe_training_job(name).await.ok()?;
        (res.record
            .derived
            .get("SecondaryStatus")
            .and_then(Value::as_str)
            == Some(secondary.as_str()))
        .then_some(res)
    })
    .await
}

fn member<'a>(res: &'a TrainingJob, name: &str) -> &'a str {
    res.record
        .derived
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A model the algorithm writes, then exit 0.
fn succeeds(after: Duration) -> Script {
    Script {
        exit: Some((after, 0)),
        files: vec![("/opt/ml/model/weights.txt".into(), "42".into())],
        logs: vec!["epoch 1".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_job_whose_algorithm_exits_0_completes_and_uploads_model_tar_gz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| succeeds(Duration::from_millis(100)));
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("ok", 60)).await.expect("create");

    let res = until_status(&s, "ok", &ENDED).await;
    assert_eq!(
        res.status,
        Some(TrainingJobStatus::Completed),
        "{:?}",
        res.record.derived
    );
    assert_eq!(
        res.record
            .derived
            .pointer("/ModelArtifacts/S3ModelArtifacts"),
        Some(&json!("s3://out/models/ok/output/model.tar.gz"))
    );
    let (row, _) = s
        .objects
        .object("out", "models/ok/output/model.tar.gz")
        .await
        .expect("model.tar.gz in the object store");
    assert!(row.size > 0);
    let calls = fake.calls();
    assert!(calls.iter().any(|c| c.starts_with("run ")), "{calls:?}");
    assert!(
        calls.iter().any(|c| c.starts_with("remove_network ")),
        "{calls:?}"
    );
    assert!(
        fake.container_names().is_empty(),
        "the job's container is removed"
    );
}

#[tokio::test]
async fn an_algorithm_that_exits_1_with_a_failure_file_fails_the_job_with_algorithm_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script {
        exit: Some((Duration::from_millis(100), 1)),
        files: vec![(
            "/opt/ml/output/failure".into(),
            "bad hyperparameter eta\n".into(),
        )],
        ..Default::default()
    });
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("bad", 60)).await.expect("create");

    let res = until_status(&s, "bad", &ENDED).await;
    assert_eq!(res.status, Some(TrainingJobStatus::Failed));
    assert_eq!(
        member(&res, "FailureReason"),
        "AlgorithmError: bad hyperparameter eta, exit code: 1"
    );
}

#[tokio::test]
async fn stop_training_job_moves_a_running_job_through_stopping_to_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default()); // runs until stopped
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("halt", 600))
        .await
        .expect("create");
    until_secondary(&s, "halt", SecondaryStatus::Training).await;

    s.stop_training_job("halt").await.expect("stop");
    let res = s.describe_training_job("halt").await.expect("describe");
    assert_eq!(res.status, Some(TrainingJobStatus::Stopping));
    let res = until_status(&s, "halt", &ENDED).await;
    assert_eq!(
        res.status,
        Some(TrainingJobStatus::Stopped),
        "{:?}",
        res.record.derived
    );
    assert_eq!(
        member(&res, "SecondaryStatus"),
        SecondaryStatus::Stopped.as_str()
    );
    assert_eq!(
        transitions(&res),
        [
            "Starting",
            "Downloading",
            "Training",
            "Stopping",
            "Uploading",
            "Stopped"
        ]
    );
    assert!(fake.calls().iter().any(|c| c.starts_with("stop ")));
}

/// The statuses of a job's SecondaryStatusTransitions, in order.
fn transitions(res: &TrainingJob) -> Vec<String> {
    res.record.derived["SecondaryStatusTransitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| t["Status"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A stop stored while the supervisor is between two saves (its signal not yet seen) is taken
/// up by the supervisor's next save: Describe never goes from Stopping back to InProgress, and
/// the job, which ends on its own, completes from Stopping with the stop in its transitions.
#[tokio::test]
async fn a_stop_stored_between_the_supervisors_saves_is_taken_up_not_undone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| succeeds(Duration::from_millis(800)));
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("raced", 600))
        .await
        .expect("create");
    until_secondary(&s, "raced", SecondaryStatus::Training).await;
    // StopTrainingJob's write, without the signal to the supervisor
    let wrote = s
        .change_state(ResourceKind::TrainingJob, "raced", super::stopping)
        .await
        .expect("stop written");
    assert!(wrote);
    let seen = Mutex::new(Vec::new());
    let res = eventually(20, "raced to end", || async {
        let res = s.describe_training_job("raced").await.ok()?;
        seen.lock().expect("seen").push(res.status);
        res.status
            .is_some_and(|s| ENDED.contains(&s))
            .then_some(res)
    })
    .await;
    let seen = seen.into_inner().expect("seen");
    let after_stop: Vec<_> = seen
        .iter()
        .skip_while(|s| **s != Some(TrainingJobStatus::Stopping))
        .collect();
    assert!(
        !after_stop.contains(&&Some(TrainingJobStatus::InProgress)),
        "InProgress came back after Stopping: {seen:?}"
    );
    assert_eq!(
        res.status,
        Some(TrainingJobStatus::Completed),
        "{:?}",
        res.record.derived
    );
    assert_eq!(
        transitions(&res),
        [
            "Starting",
            "Downloading",
            "Training",
            "Stopping",
            "Uploading",
            "Completed"
        ]
    );
}

/// A StopTrainingJob that read the job InProgress just before its supervisor stored its end is
/// decided again on the ended row: it is refused, and the end stays (it once wrote Stopping over
/// Completed, and the job stayed Stopping for good).
#[test]
fn a_stop_that_loses_the_race_to_the_jobs_end_is_refused_and_the_end_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default());
    job_left_training(dir.path(), &fake, "late");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = services(dir.path(), &fake);
        let mut decisions = 0;
        let refused = s
            .change_state(ResourceKind::TrainingJob, "late", |row, derived| {
                decisions += 1;
                if decisions == 1 {
                    assert_eq!(row.status.as_deref(), Some("InProgress"));
                    // the supervisor's last save lands between the stop's read and its write
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            let mut state =
                                JobState::from_stored("late", row.status.as_deref(), &row.derived);
                            state
                                .transition(SecondaryStatus::Uploading, "Uploading")
                                .expect("a legal move");
                            state
                                .finish(
                                    TrainingJobStatus::Completed,
                                    SecondaryStatus::Completed,
                                    "Training job completed",
                                    1,
                                )
                                .expect("a legal end");
                            s.save_training_state("late", &state).await.expect("saved");
                        })
                    });
                }
                super::stopping(row, derived)
            })
            .await;
        assert_eq!(decisions, 2, "decided again on the row that changed");
        assert!(
            matches!(&refused, Err(ServiceError::Validation(m))
                if m == "The request was rejected because the training job is in status Completed."),
            "{refused:?}"
        );
        let res = s.describe_training_job("late").await.expect("describe");
        assert_eq!(res.status, Some(TrainingJobStatus::Completed));
        assert_eq!(member(&res, "SecondaryStatus"), "Completed");
        let refused = s.stop_training_job("late").await;
        assert!(matches!(refused, Err(ServiceError::Validation(_))), "{refused:?}");
    });
}

#[tokio::test]
async fn a_job_past_max_runtime_in_seconds_is_stopped_with_max_runtime_exceeded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default()); // would run forever
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("slow", 1)).await.expect("create");

    let res = until_status(&s, "slow", &ENDED).await;
    assert_eq!(
        res.status,
        Some(TrainingJobStatus::Stopped),
        "{:?}",
        res.record.derived
    );
    assert_eq!(
        member(&res, "SecondaryStatus"),
        SecondaryStatus::MaxRuntimeExceeded.as_str()
    );
    assert!(fake.calls().iter().any(|c| c.starts_with("stop ")));
}

/// Runs `f` on a runtime of its own and then drops that runtime, cancelling every task it
/// spawned: what a sagebox process that goes away leaves behind.
fn in_a_process_that_dies<F: std::future::Future>(f: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(f);
    rt.shutdown_timeout(Duration::from_millis(200));
}

/// Starts job `name` in a process that then dies while the job is Training, its container
/// started (Training is saved just before the containers start, so wait for both).
fn job_left_training(dir: &std::path::Path, fake: &Arc<FakeEngine>, name: &str) {
    in_a_process_that_dies(async {
        let s = services(dir, fake);
        with_bucket(&s).await;
        s.create_training_job(job(name, 600)).await.expect("create");
        until_secondary(&s, name, SecondaryStatus::Training).await;
        eventually(20, "the job's container to start", || async {
            (!fake.container_names().is_empty()).then_some(())
        })
        .await;
    });
}

#[test]
fn after_a_restart_a_job_whose_container_still_runs_is_re_adopted_and_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| succeeds(Duration::from_millis(1500)));
    job_left_training(dir.path(), &fake, "kept");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let s = services(dir.path(), &fake);
        tokio::spawn(s.clone().recover());
        let res = until_status(&s, "kept", &ENDED).await;
        assert_eq!(
            res.status,
            Some(TrainingJobStatus::Completed),
            "{:?}",
            res.record.derived
        );
        let calls = fake.calls();
        let runs = calls.iter().filter(|c| c.starts_with("run ")).count();
        assert_eq!(runs, 1, "re-adopted, not started again: {calls:?}");
        assert!(calls.iter().any(|c| c.starts_with("start_if_created ")));
        s.objects
            .object("out", "models/kept/output/model.tar.gz")
            .await
            .expect("the re-adopted job's model is uploaded");
    });
}

#[test]
fn after_a_restart_a_job_whose_container_is_gone_fails_with_internal_server_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default());
    job_left_training(dir.path(), &fake, "lost");
    assert_eq!(fake.container_names().len(), 1);
    fake.forget_all();

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let s = services(dir.path(), &fake);
        s.clone().recover().await;
        let res = until_status(&s, "lost", &ENDED).await;
        assert_eq!(res.status, Some(TrainingJobStatus::Failed));
        assert!(
            member(&res, "FailureReason").starts_with(
                "InternalServerError: sagebox restarted while this job was running and the job's containers are gone"
            ),
            "{}",
            member(&res, "FailureReason")
        );
    });
}

/// The status tables are live: a row whose secondary status already ended (as a supervisor bug
/// could leave it) cannot be moved to Stopping, and the refused stop writes nothing.
#[test]
fn stopping_a_job_whose_secondary_status_ended_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default());
    job_left_training(dir.path(), &fake, "odd");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let s = services(dir.path(), &fake);
        let row = s.stored_training_job("odd").await.expect("stored");
        let mut state = JobState::from_stored("odd", row.status.as_deref(), &row.derived);
        state.set(
            "SecondaryStatus",
            json!(SecondaryStatus::Completed.as_str()),
        );
        s.save_training_state("odd", &state).await.expect("save");

        let refused = s.stop_training_job("odd").await;
        assert!(
            matches!(&refused, Err(ServiceError::Internal(m))
                if m.contains("training job odd: no move from Completed to Stopping")),
            "{refused:?}"
        );
        let res = s.describe_training_job("odd").await.expect("describe");
        assert_eq!(res.status, Some(TrainingJobStatus::InProgress));
        assert_eq!(member(&res, "SecondaryStatus"), "Completed");
    });
}

/// A container's spec, with the files (name, content) of its pipes' sources when it started.
type Started = (ContainerSpec, Vec<(String, String)>);

/// A Pipe-mode job of two instances on `fake`, its channel sharded by key: the specs the
/// containers were started with, each with the files of its pipes' sources as they were then.
async fn run_pipe_job(fake: &Arc<FakeEngine>) -> Vec<Started> {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen: Arc<Mutex<Vec<Started>>> = Arc::default();
    let record = seen.clone();
    fake.script(move |spec| {
        let files = spec
            .pipes
            .iter()
            .flat_map(|p| staging::files_under(std::path::Path::new(&p.source)))
            .map(|(name, path)| (name, std::fs::read_to_string(path).unwrap_or_default()))
            .collect();
        if let Ok(mut seen) = record.lock() {
            seen.push((spec.clone(), files));
        }
        succeeds(Duration::from_millis(100))
    });
    let s = services(dir.path(), fake);
    with_bucket(&s).await;
    s.objects.create_bucket("in", None).await.expect("bucket");
    for (key, body) in [("data/b", "2"), ("data/a", "1"), ("data/c", "3")] {
        s.objects
            .put_bytes("in", key, body.into(), Default::default())
            .await
            .expect("an object");
    }
    let req = json!({
        "TrainingJobName": "pipe",
        "RoleArn": "arn:aws:iam::000000000000:role/r",
        "AlgorithmSpecification": {"TrainingImage": "fake/algo:1", "TrainingInputMode": "Pipe"},
        "InputDataConfig": [{"ChannelName": "train", "RecordWrapperType": "RecordIO",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/data/",
                "S3DataDistributionType": "ShardedByS3Key"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://out/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    });
    let req = Input::decode(req.as_object().cloned().expect("an object")).expect("a request");
    s.create_training_job(req).await.expect("create");
    let res = until_status(&s, "pipe", &ENDED).await;
    assert_eq!(res.status, Some(TrainingJobStatus::Completed));
    let mut seen = seen.lock().expect("specs").clone();
    seen.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    seen
}

#[tokio::test]
async fn without_the_hosts_files_a_pipe_mode_channel_is_staged_in_key_order_for_the_agent() {
    let fake = Arc::new(FakeEngine::default());
    fake.without_host_files();
    let seen = run_pipe_job(&fake).await;
    assert_eq!(seen.len(), 2);
    // algo-1 has the 1st and 3rd keys (a, c), algo-2 the 2nd (b), each named in key order
    let want = [
        vec![("00000000", "1"), ("00000001", "3")],
        vec![("00000000", "2")],
    ];
    for (i, (spec, files)) in seen.iter().enumerate() {
        let host = format!("algo-{}", i + 1);
        let [pipe] = spec.pipes.as_slice() else {
            panic!("one pipe: {:?}", spec.pipes);
        };
        assert!(
            pipe.source
                .ends_with(&format!("/channels/train-{host}-pipe"))
        );
        assert_eq!(
            (pipe.fifo_dir.as_str(), pipe.channel.as_str(), pipe.recordio),
            ("/opt/ml/input/data", "train", true)
        );
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, c)| (n.as_str(), c.as_str()))
            .collect();
        assert_eq!(files, want[i], "{host}");
        // no bind for the channel, and no FIFO on the host
        assert!(
            spec.binds
                .iter()
                .all(|b| !b.container.contains("input/data"))
        );
        let opt_ml = spec
            .binds
            .iter()
            .find(|b| b.container == "/opt/ml")
            .expect("/opt/ml");
        let data = std::path::Path::new(&opt_ml.host).join("input/data");
        assert!(!data.join("train_0").exists());
    }
}

#[tokio::test]
async fn with_the_hosts_files_a_pipe_mode_channel_is_a_host_fifo() {
    let fake = Arc::new(FakeEngine::default());
    let seen = run_pipe_job(&fake).await;
    assert_eq!(seen.len(), 2);
    for (spec, _) in &seen {
        assert!(spec.pipes.is_empty(), "{:?}", spec.pipes);
        assert!(spec.binds.iter().all(|b| !b.host.contains("-pipe")));
    }
}

fn with_checkpoints(name: &str) -> Input<CreateTrainingJobRequest> {
    let mut req = job(name, 60).raw;
    req.insert("CheckpointConfig".into(), json!({"S3Uri": "s3://out/ckpt"}));
    Input::decode(req).expect("a request")
}

#[tokio::test]
async fn an_instance_lost_with_its_node_restarts_the_job_from_its_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    let launches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = launches.clone();
    fake.script(move |_| {
        if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            // runs until its node goes, with a checkpoint written
            Script {
                files: vec![("/opt/ml/checkpoints/step".into(), "7".into())],
                ..Default::default()
            }
        } else {
            succeeds(Duration::from_millis(100))
        }
    });
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(with_checkpoints("ck"))
        .await
        .expect("create");
    until_secondary(&s, "ck", SecondaryStatus::Training).await;
    fake.lose("", "node3");

    let res = until_status(&s, "ck", &ENDED).await;
    assert_eq!(
        res.status,
        Some(TrainingJobStatus::Completed),
        "{:?}",
        res.record.derived
    );
    let steps: Vec<&str> = res.record.derived["SecondaryStatusTransitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .filter_map(|t| t["Status"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "Starting",
            "Downloading",
            "Training",
            "Interrupted",
            "Restarting",
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "Completed"
        ]
    );
    assert_eq!(launches.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (row, _) = s
        .objects
        .object("out", "ckpt/step")
        .await
        .expect("the checkpoint in CheckpointConfig.S3Uri");
    assert_eq!(row.size, 1);
}

#[tokio::test]
async fn an_instance_lost_with_its_node_fails_a_job_without_checkpoints_naming_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Arc::new(FakeEngine::default());
    fake.script(|_| Script::default());
    let s = services(dir.path(), &fake);
    with_bucket(&s).await;
    s.create_training_job(job("gone", 60))
        .await
        .expect("create");
    until_secondary(&s, "gone", SecondaryStatus::Training).await;
    fake.lose("", "node3");
    let res = until_status(&s, "gone", &ENDED).await;
    assert_eq!(res.status, Some(TrainingJobStatus::Failed));
    let reason = member(&res, "FailureReason");
    assert!(
        reason.contains("algo-1 was lost")
            && reason.contains("node3")
            && reason.contains("CheckpointConfig"),
        "{reason}"
    );
}
