//! One transform job from start to end: the model's containers up (InstanceCount instances),
//! GET /execution-parameters for the defaults the request leaves open, every input object
//! split, batched and sent with at most MaxConcurrentTransforms requests in flight per
//! instance, the answers assembled into `<input>.out` objects, then the containers removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::watch;

use super::LOG_GROUP;
use super::records;
use super::settings::{self, Job, MIB, Settings, batch_environment, count, record_settings};
use crate::aws::model::typed::sagemaker::TransformJobStatus;
use crate::aws::time::now_epoch;
use crate::runtime::engine::{ARN_LABEL, OWNER_LABEL};
use crate::service::failure::FailureReason;
use crate::service::hosting::fleet::{self, Fleet};
use crate::service::hosting::routes::Instance;
use crate::service::logs::LogWriter;
use crate::service::training::StopRequest;
use crate::service::training::staging;
use crate::service::{Services, stored};
use crate::store::objects::ObjectMeta;
use crate::store::resources::{Resource, ResourceKind};

enum Outcome {
    Completed,
    Failed(FailureReason),
    Stopped,
}

pub(super) async fn run(services: Services, name: String, mut stop: watch::Receiver<StopRequest>) {
    let Ok(Some(job)) = services
        .store
        .resource(ResourceKind::TransformJob, &name)
        .await
    else {
        services.transforms.done(&name);
        return;
    };
    let network = format!(
        "sagebox-{}-tj-{}",
        services.runtime.owner,
        name.to_ascii_lowercase()
    );
    let (notes, notes_task) = LogWriter::new(&services, LOG_GROUP, &notes_stream(&name));
    let executed = match stored(&format!("transform job {name}"), &job.request) {
        Ok(req) => {
            let job = Job { row: &job, req };
            execute(&services, &job, &network, &notes, &mut stop).await
        }
        Err(e) => Err(FailureReason::InternalServerError(e.to_string())),
    };
    let outcome = match executed {
        Ok(()) => Outcome::Completed,
        Err(_) if *stop.borrow() == StopRequest::Stop => Outcome::Stopped,
        Err(e) => Outcome::Failed(e),
    };
    // Containers and network go whatever happened.
    if let Ok(engine) = services.runtime.engine().await {
        if let Ok(list) = engine.containers_labelled(ARN_LABEL, &job.arn).await {
            let ids: Vec<String> = list.into_iter().map(|(id, _, _)| id).collect();
            fleet::remove_all(&engine, &ids).await;
        }
        if let Err(e) = engine.remove_network(&network).await {
            // best effort: the startup sweep removes a network nothing claims
            tracing::debug!("transform job {name}: cannot remove network {network}: {e}");
        }
    }
    if let Ok(mut pool) = services.runtime.gpus.lock() {
        pool.release(&job.arn);
    }
    let (status, reason) = match outcome {
        Outcome::Completed => (TransformJobStatus::Completed, None),
        Outcome::Stopped => (TransformJobStatus::Stopped, None),
        Outcome::Failed(r) => (TransformJobStatus::Failed, Some(r)),
    };
    if let Some(r) = &reason {
        // the whole text: the stored reason is cut to AWS's length, the log is not
        let class = r.class().map(|c| format!("{c}: ")).unwrap_or_default();
        notes.line(&format!("[sagebox] the job failed: {class}{}", r.detail()));
    }
    let ended = now_epoch();
    // a refused move is logged there; the job's end is then not written over a later status
    services
        .persist_change(
            ResourceKind::TransformJob,
            &name,
            status.as_str(),
            |row, d| {
                super::check_move(row, status).ok()?;
                d.insert("TransformEndTime".into(), json!(ended));
                if let Some(r) = &reason {
                    d.insert("FailureReason".into(), json!(r));
                }
                Some(status.as_str().to_string())
            },
        )
        .await;
    drop(notes);
    if let Err(e) = notes_task.await {
        tracing::debug!("transform job {name}: its notes' log writer ended abnormally: {e}");
    }
    services.transforms.done(&name);
}

/// The stream of sagebox's own notes on a job: named after the job alone, without the `/` that the
/// instance streams (`<job>/<container>`) have. The SageMaker SDK pages a job's logs by the prefix
/// `<job>/` and stops listing once it has as many streams as instances, so a note stream under
/// that prefix could stand in for an instance's stream or have its lines printed twice.
fn notes_stream(job: &str) -> String {
    job.to_string()
}

/// The job's steps: model, output bucket and input objects, the model's instances, the batch
/// settings, then every input object through the containers into S3.
async fn execute(
    services: &Services,
    job: &Job<'_>,
    network: &str,
    notes: &LogWriter,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<(), FailureReason> {
    let model_name = job.req.model_name.as_deref().unwrap_or_default();
    let model = services
        .stored_model(model_name)
        .await
        .map_err(|e| FailureReason::ClientError(e.to_string()))?;
    let output = check_output_bucket(services, job).await?;
    let source = job.s3_source();
    let input_uri = source.and_then(|s| s.s3_uri.as_deref()).unwrap_or_default();
    let data_type = source
        .and_then(|s| s.s3_data_type)
        .map_or("S3Prefix", |t| t.as_str());
    // staging words its errors with their class ("ClientError: ...") already
    let inputs = staging::resolve_source(&services.objects, data_type, input_uri)
        .await
        .map_err(|e| FailureReason::parse(&e.to_string()))?;

    let instances = start_instances(services, job, &model, network, notes).await?;
    services
        .note_transform(job.name(), |d| {
            d.insert("TransformStartTime".into(), json!(now_epoch()));
        })
        .await
        .map_err(|e| FailureReason::Plain(e.to_string()))?;

    let settings = settings::resolve(services, job, &instances[0]).await;
    record_settings(services, job, &settings).await?;
    notes.line(&format!(
        "[sagebox] {} input objects from {input_uri}; {} instance(s), {} concurrent request(s) each, {} MB payloads",
        inputs.len(),
        instances.len(),
        settings.concurrency,
        settings.max_payload / MIB
    ));
    transform_inputs(
        services, &settings, &instances, &inputs, input_uri, &output, stop,
    )
    .await
}

/// Where TransformOutput.S3OutputPath points: a bucket and a key prefix.
struct Output {
    bucket: String,
    prefix: String,
}

/// The output bucket must exist before any container starts.
async fn check_output_bucket(services: &Services, job: &Job<'_>) -> Result<Output, FailureReason> {
    let output = job.output_path();
    let (bucket, prefix) = staging::parse_s3_uri(output).unwrap_or_default();
    if services.objects.bucket(&bucket).await.is_err() {
        return Err(FailureReason::ClientError(format!(
            "The S3 bucket \"{bucket}\" of TransformOutput.S3OutputPath ({output}) does not exist."
        )));
    }
    Ok(Output { bucket, prefix })
}

/// The model's containers on TransformResources.InstanceCount instances, on the job's
/// network, each with its GPUs; returns them once they all answer /ping.
async fn start_instances(
    services: &Services,
    job: &Job<'_>,
    model: &Resource,
    network: &str,
    notes: &LogWriter,
) -> Result<Vec<Arc<Instance>>, FailureReason> {
    let engine = services
        .runtime
        .engine()
        .await
        .map_err(|e| FailureReason::InternalServerError(e.to_string()))?;
    let resources = job.req.transform_resources.as_ref();
    let instance_type = resources
        .and_then(|r| r.instance_type.as_deref())
        .unwrap_or("ml.m5.large")
        .to_string();
    let mut containers = fleet::prepare(services, model, &instance_type, notes)
        .await
        .map_err(|e| FailureReason::ClientError(e.to_string()))?;
    let env = batch_environment(job);
    for c in &mut containers {
        c.env.extend(env.iter().cloned());
    }
    let labels = HashMap::from([
        (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
        (ARN_LABEL.to_string(), job.arn().to_string()),
    ]);
    engine.ensure_network(network, &labels).await.map_err(|e| {
        FailureReason::InternalServerError(format!("cannot create the job's network: {e}"))
    })?;
    let count = count(resources.and_then(|r| r.instance_count))
        .unwrap_or(1)
        .max(1) as usize;
    let fleet = Fleet {
        arn: job.arn().to_string(),
        name_prefix: network.to_string(),
        network: network.to_string(),
        group: job.name().to_string(),
        deployment: "job".into(),
        instance_type: instance_type.clone(),
        containers,
        log_group: LOG_GROUP.into(),
        stream_prefix: job.name().to_string(),
        health_timeout: Duration::from_secs(600),
        serves: format!("transform job {}", job.name()),
        limits: None,
    };
    let allot = crate::runtime::instance_types::allot(&instance_type, &services.runtime.host);
    let mut starts = Vec::new();
    for i in 0..count {
        let gpus = services
            .grant_gpus(job.arn(), &instance_type, allot.gpus, |w| {
                notes.line(&format!("[sagebox] {w}"))
            })
            .map_err(FailureReason::CapacityError)?;
        starts.push(fleet.start_instance(services, &engine, i, gpus));
    }
    let mut instances = Vec::new();
    for r in futures_util::future::join_all(starts).await {
        instances.push(
            r.map_err(|e| FailureReason::ClientError(e.to_string()))?
                .instance,
        );
    }
    Ok(instances)
}

/// Each input object through the instances, its output to <S3OutputPath>/<object>.out; a
/// stop request ends the job between objects.
async fn transform_inputs(
    services: &Services,
    settings: &Settings,
    instances: &[Arc<Instance>],
    inputs: &[staging::ChannelObject],
    input_uri: &str,
    output: &Output,
    stop: &mut watch::Receiver<StopRequest>,
) -> Result<(), FailureReason> {
    let Output {
        bucket: out_bucket,
        prefix: out_prefix,
    } = output;
    let next = AtomicUsize::new(0);
    for object in inputs {
        if *stop.borrow() == StopRequest::Stop {
            return Err(FailureReason::Plain("stopped".into()));
        }
        let rel = object.rel.to_string_lossy().replace('\\', "/");
        let data = tokio::fs::read(&object.file)
            .await
            .map_err(|e| FailureReason::InternalServerError(format!("reading {rel}: {e}")))?;
        let out = transform_object(services, settings, instances, &next, &data, stop)
            .await
            .map_err(|e| {
                FailureReason::ClientError(format!(
                    "{input_uri} ({rel}): {e}. See job logs for more information."
                ))
            })?;
        let key = if out_prefix.is_empty() || out_prefix.ends_with('/') {
            format!("{out_prefix}{rel}.out")
        } else {
            format!("{out_prefix}/{rel}.out")
        };
        let meta = ObjectMeta {
            content_type: settings.accept.clone(),
            ..Default::default()
        };
        services
            .objects
            .put_bytes(out_bucket, &key, Bytes::from(out), meta)
            .await
            .map_err(|e| {
                FailureReason::InternalServerError(format!("writing s3://{out_bucket}/{key}: {e}"))
            })?;
    }
    Ok(())
}

/// One input object in, its output object out.
async fn transform_object(
    services: &Services,
    s: &Settings,
    instances: &[Arc<Instance>],
    next: &AtomicUsize,
    data: &[u8],
    stop: &watch::Receiver<StopRequest>,
) -> Result<Vec<u8>, String> {
    let split = records::split(data, s.split)?;
    let filtered: Vec<Vec<u8>> = match &s.input_filter {
        Some(f) => split
            .iter()
            .map(|r| records::apply_filter(r, &s.content_type, f))
            .collect::<Result<_, _>>()?,
        None => split.iter().map(|r| r.to_vec()).collect(),
    };
    let refs: Vec<&[u8]> = filtered.iter().map(Vec::as_slice).collect();
    let batches = records::batches(&refs, s.split, s.strategy, s.max_payload)?;
    let in_flight = s.concurrency * instances.len();
    let work: Vec<(Arc<Instance>, Bytes)> = batches
        .iter()
        .map(|b| {
            let i = next.fetch_add(1, Ordering::Relaxed) % instances.len();
            (instances[i].clone(), Bytes::from(b.payload.clone()))
        })
        .collect();
    let responses: Vec<Result<Vec<u8>, String>> =
        futures_util::stream::iter(work.into_iter().map(|(instance, payload)| async move {
            if *stop.borrow() == StopRequest::Stop {
                return Err("stopped".to_string());
            }
            invoke_with_retries(services, s, &instance, payload).await
        }))
        .buffered(in_flight)
        .collect()
        .await;
    let responses: Vec<Vec<u8>> = responses.into_iter().collect::<Result<_, _>>()?;
    if !s.join_input && s.output_filter.is_none() {
        return Ok(records::assemble(&responses, s.assemble));
    }
    // Per-record outputs, joined with their inputs and filtered.
    let mut outputs = Vec::new();
    for (b, resp) in batches.iter().zip(&responses) {
        let per_record = if b.count == 1 {
            let mut r = resp.clone();
            while r.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                r.pop();
            }
            vec![r]
        } else {
            records::split_response_lines(resp, b.count)?
        };
        for (k, out) in per_record.into_iter().enumerate() {
            let input = split.get(b.first + k).copied().unwrap_or_default();
            let (record, ct) = if s.join_input {
                let trimmed = trim_newline(input);
                (
                    records::join_input(trimmed, &out, &s.content_type)?,
                    s.content_type.as_str(),
                )
            } else {
                (out, s.accept.as_deref().unwrap_or(s.content_type.as_str()))
            };
            let record = match &s.output_filter {
                Some(f) => records::apply_filter(&record, ct, f)?,
                None => record,
            };
            outputs.push(record);
        }
    }
    Ok(records::assemble(&outputs, s.assemble))
}

fn trim_newline(r: &[u8]) -> &[u8] {
    let mut end = r.len();
    while end > 0 && (r[end - 1] == b'\n' || r[end - 1] == b'\r') {
        end -= 1;
    }
    &r[..end]
}

async fn invoke_with_retries(
    services: &Services,
    s: &Settings,
    instance: &Instance,
    payload: Bytes,
) -> Result<Vec<u8>, String> {
    let mut attempt = 0;
    loop {
        match invoke(services, s, instance, payload.clone()).await {
            Ok(r) => return Ok(r),
            // a model's 4xx answer will not change on a retry
            Err((true, e)) => return Err(e),
            Err((false, e)) if attempt >= s.retries => return Err(e),
            Err(_) => attempt += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends one payload through the instance's containers; Err((final, message)).
async fn invoke(
    services: &Services,
    s: &Settings,
    instance: &Instance,
    payload: Bytes,
) -> Result<Vec<u8>, (bool, String)> {
    let mut body = payload;
    let mut content_type = s.content_type.clone();
    let last = instance.members.len().saturating_sub(1);
    for (i, member) in instance.members.iter().enumerate() {
        let port = member.port.load(Ordering::Relaxed);
        let mut req = http::Request::post(format!("http://127.0.0.1:{port}/invocations"));
        if !content_type.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, &content_type);
        }
        if i == last
            && let Some(a) = &s.accept
        {
            req = req.header(http::header::ACCEPT, a);
        }
        let req = req
            .body(Body::from(body))
            .map_err(|e| (true, e.to_string()))?;
        let resp = match tokio::time::timeout(s.timeout, services.hosting.client.request(req)).await
        {
            Err(_) => {
                return Err((
                    false,
                    format!(
                        "the model did not answer within {} seconds",
                        s.timeout.as_secs()
                    ),
                ));
            }
            Ok(Err(e)) => return Err((false, format!("the container could not be reached: {e}"))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if let Some(ct) = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            content_type = ct.to_string();
        }
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| (false, format!("reading the model's answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)])
                .trim()
                .to_string();
            return Err((
                status.is_client_error(),
                format!(
                    "the model answered {} with message \"{text}\"",
                    status.as_u16()
                ),
            ));
        }
        body = bytes;
    }
    Ok(body.to_vec())
}
