"""Training jobs with real containers, driven by boto3, the AWS CLI and the SageMaker Python SDK:
the job's status and transitions, the /opt/ml contract, artifacts in S3, logs in CloudWatch,
failures, stops, time limits, several instances, Pipe mode, sharding, metrics and re-adoption
after a restart. Images: sagebox's emulator images (built on first use) and a bring-your-own image
built here from fixtures/byo."""

import io
import json
import os
import re
import subprocess
import tarfile
import time

import pytest
from botocore.exceptions import ClientError

from support import REPO, docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGBOOST_URI = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


def put(s3, bucket, key, body):
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return "s3://%s/%s" % (bucket, key)


def channel(name, uri, **extra):
    ch = {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": extra.pop("data_type", "S3Prefix"), "S3Uri": uri,
        "S3DataDistributionType": extra.pop("distribution", "FullyReplicated")}}}
    ch.update(extra)
    return ch


def create_job(sm, bucket, image, hp=None, channels=(), count=1, max_runtime=600, name=None, **extra):
    name = name or unique("job")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                **extra.pop("algorithm", {})},
        RoleArn=ROLE,
        HyperParameters=hp or {},
        **({"InputDataConfig": list(channels)} if channels else {}),
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime},
        **extra,
    )
    return name


def wait(sm, name, timeout=300, until=("Completed", "Failed", "Stopped")):
    deadline = time.time() + timeout
    while True:
        d = sm.describe_training_job(TrainingJobName=name)
        if d["TrainingJobStatus"] in until:
            return d
        assert time.time() < deadline, d
        time.sleep(0.3)


def model_files(s3, desc):
    uri = desc["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, key = uri[len("s3://"):].split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def log_text(logs, name):
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=name + "/")["logStreams"]
    out = {}
    for s in streams:
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                     logStreamName=s["logStreamName"], startFromHead=True)["events"]
        out[s["logStreamName"]] = "\n".join(e["message"] for e in events)
    return out


def stored_logs(logs, name):
    """`log_text`, or nothing while the log group is not made yet (the job's first stored line
    makes it)."""
    try:
        return log_text(logs, name)
    except logs.exceptions.ResourceNotFoundException:
        return {}


def test_byo_job_completes_with_config_files_artifacts_and_logs(sm, s3, logs, bucket, byo_image):
    put(s3, bucket, "byo/train/a.csv", b"1,2\n")
    put(s3, bucket, "byo/train/sub/b.csv", b"3,4\n")
    put(s3, bucket, "byo/validation/v.csv", b"5,6\n")
    name = create_job(sm, bucket, byo_image, {"mode": "ok", "epochs": "3"},
                      [channel("train", "s3://%s/byo/train" % bucket),
                       channel("validation", "s3://%s/byo/validation/" % bucket)],
                      Environment={"MY_ENV": "from-the-request"})
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["SecondaryStatus"] == "Completed"
    statuses = [t["Status"] for t in d["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Uploading", "Completed"], statuses
    assert d["TrainingStartTime"] <= d["TrainingEndTime"] and d["TrainingTimeInSeconds"] >= 1
    assert d["BillableTimeInSeconds"] >= 1 and d["HyperParameters"]["epochs"] == "3"
    artifact = d["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == "s3://%s/output/%s/output/model.tar.gz" % (bucket, name)
    model = json.loads(model_files(s3, d)["model.json"])
    assert model["hyperparameters"] == {"mode": "ok", "epochs": "3"}
    assert model["channels"] == {"train": ["a.csv", "sub"], "validation": ["v.csv"]}
    assert model["env"] == "from-the-request"
    out = s3.get_object(Bucket=bucket, Key="output/%s/output/output.tar.gz" % name)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(out), mode="r:gz") as t:
        assert t.extractfile("extra.txt").read() == b"output data\n"
    streams = log_text(logs, name)
    assert len(streams) == 1
    (stream, text), = streams.items()
    assert re.fullmatch(re.escape(name) + r"/algo-1-\d{10}", stream), stream
    assert "byo: mode=ok host=algo-1 hosts=['algo-1'] job=%s" % name in text
    # small channels are per-instance writable copies (as SageMaker's are); large ones hard links
    assert "channel train: 2 objects, 8 bytes" in text and "8 bytes copied" in text
    listed = sm.list_training_jobs(NameContains=name, StatusEquals="Completed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in listed] == [name]
    assert listed[0]["TrainingJobStatus"] == "Completed" and "TrainingEndTime" in listed[0]


def test_large_channels_are_hard_links_and_copy_nothing(sm, s3, logs, bucket, byo_image):
    payload = os.urandom(17 << 20)
    put(s3, bucket, "big/train/blob.bin", payload)
    name = create_job(sm, bucket, byo_image, {"mode": "ok"}, [channel("train", "s3://%s/big/train" % bucket)])
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    (text,) = log_text(logs, name).values()
    assert "channel train: 1 objects, %d bytes" % len(payload) in text and " 0 bytes copied" in text, text
    assert s3.get_object(Bucket=bucket, Key="big/train/blob.bin")["Body"].read() == payload


def test_algorithm_failure_reports_the_failure_file(sm, s3, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "fail"})
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["SecondaryStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: the data has no label column, exit code: 3"
    assert "ModelArtifacts" not in d or not d["ModelArtifacts"].get("S3ModelArtifacts")


def test_stop_sends_sigterm_and_keeps_what_the_algorithm_saved(sm, s3, logs, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "sleep"})
    wait(sm, name, until=("Completed", "Failed", "Stopped", "InProgress"))
    deadline = time.time() + 60
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.time() < deadline
        time.sleep(0.2)
    # The algorithm is Python as the container's PID 1, which ignores SIGTERM until its handler
    # is installed: on a loaded host the interpreter can take seconds to get there, and a stop
    # sent before then waits out the 120-s grace (as it would on SageMaker). The handler is in
    # place once the first "sleeping" line is printed.
    while "sleeping 0" not in "".join(stored_logs(logs, name).values()):
        assert time.time() < deadline, "the algorithm printed nothing within 60 s"
        time.sleep(0.2)
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    d = wait(sm, name, timeout=60)
    assert d["TrainingJobStatus"] == "Stopped" and d["SecondaryStatus"] == "Stopped", d
    assert model_files(s3, d)["stopped.txt"] == b"saved on SIGTERM"
    with pytest.raises(ClientError) as e:
        sm.stop_training_job(TrainingJobName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_a_job_stopped_right_after_create_ends_stopped(sm, bucket, byo_image):
    # the stop lands while the job is still being prepared (or just after its container
    # started): either way SageMaker ends it Stopped, never Failed
    name = create_job(sm, bucket, byo_image, {"mode": "sleep"})
    sm.stop_training_job(TrainingJobName=name)
    d = wait(sm, name, timeout=90)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "Stopped"), d
    assert "FailureReason" not in d


def test_max_runtime_stops_the_job(sm, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "sleep"}, max_runtime=3)
    # The algorithm is Python as the container's PID 1, which ignores SIGTERM until its handler
    # is installed: on a loaded host the interpreter can still be starting at the 3-s mark (seen
    # in CI), and then the stop waits out SageMaker's 120-s grace before SIGKILL. Either way the
    # job ends Stopped with MaxRuntimeExceeded, so the wait covers the grace.
    d = wait(sm, name, timeout=240)
    assert d["TrainingJobStatus"] == "Stopped", d
    assert d["SecondaryStatus"] == "MaxRuntimeExceeded"


def test_two_instances_reach_each_other_by_hostname(sm, logs, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "dist"}, count=2)
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert d["BillableTimeInSeconds"] >= 2 * 1
    streams = log_text(logs, name)
    assert sorted(s.split("/")[1].rsplit("-", 1)[0] for s in streams) == ["algo-1", "algo-2"]
    algo2 = next(t for s, t in streams.items() if "/algo-2-" in s)
    assert "reached algo-1" in algo2 and "hosts=['algo-1', 'algo-2']" in algo2


def test_sharded_by_s3_key_splits_objects_across_instances(sm, s3, logs, bucket, byo_image):
    for i in range(4):
        put(s3, bucket, "shard/part-%d" % i, b"x")
    name = create_job(sm, bucket, byo_image, {"mode": "shard"},
                      [channel("train", "s3://%s/shard/" % bucket, distribution="ShardedByS3Key")], count=2)
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    text = "\n".join(log_text(logs, name).values())
    assert "shard algo-1: part-0,part-2" in text and "shard algo-2: part-1,part-3" in text, text


def test_pipe_mode_streams_the_channel_through_a_fifo(sm, s3, bucket, byo_image):
    put(s3, bucket, "pipe/a", b"a" * 100_000)
    put(s3, bucket, "pipe/b", b"b" * 23)
    name = create_job(sm, bucket, byo_image, {"mode": "pipe"},
                      [channel("train", "s3://%s/pipe/" % bucket, InputMode="Pipe")])
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert model_files(s3, d)["pipe.txt"] == b"100023"
    name = create_job(sm, bucket, byo_image, {"mode": "pipe"},
                      [channel("train", "s3://%s/pipe/" % bucket, InputMode="Pipe", RecordWrapperType="RecordIO")])
    d = wait(sm, name)
    # RecordIO: 8 header bytes per record, payloads padded to 4 bytes
    assert model_files(s3, d)["pipe.txt"] == str(8 + 100_000 + 8 + 24).encode()


def test_metric_definitions_give_final_metrics(sm, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "metrics"}, algorithm={"MetricDefinitions": [
        {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
        {"Name": "train:accuracy", "Regex": r"accuracy=([0-9.]+)"}]})
    d = wait(sm, name)
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics == {"train:loss": pytest.approx(0.333), "train:accuracy": pytest.approx(0.7)}


def test_client_errors_fail_the_job_or_the_request(sm, s3, bucket, byo_image):
    name = create_job(sm, bucket, byo_image, {"mode": "ok"}, [channel("train", "s3://%s/nothing-here/" % bucket)])
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Failed"
    assert d["FailureReason"].startswith('ClientError: No S3 objects found under S3 URL "s3://%s/nothing-here/"' % bucket)

    sm.create_training_job(
        TrainingJobName=unique("nobucket"), AlgorithmSpecification={"TrainingImage": byo_image,
                                                                   "TrainingInputMode": "File"},
        RoleArn=ROLE, OutputDataConfig={"S3OutputPath": "s3://no-such-bucket-here/x"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    jobs = sm.list_training_jobs(NameContains="nobucket", SortBy="CreationTime")["TrainingJobSummaries"]
    d = wait(sm, jobs[0]["TrainingJobName"])
    assert d["TrainingJobStatus"] == "Failed" and "no-such-bucket-here" in d["FailureReason"]

    with pytest.raises(ClientError) as e:
        create_job(sm, bucket, byo_image, {"mode": "ok"}, name=name)
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    assert "a training job with this name already exists" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.describe_training_job(TrainingJobName="never-created-" + name)
    assert e.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}

    unknown = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124"
    d = wait(sm, create_job(sm, bucket, unknown))
    assert d["TrainingJobStatus"] == "Failed"
    assert "djl-inference" in d["FailureReason"] and "sagemaker-xgboost" in d["FailureReason"]


def test_aws_cli_creates_a_job_and_waits_for_it(aws, sm, bucket, byo_image):
    name = unique("cli")
    aws("sagemaker", "create-training-job", "--training-job-name", name,
        "--algorithm-specification", json.dumps({"TrainingImage": byo_image, "TrainingInputMode": "File"}),
        "--role-arn", ROLE, "--hyper-parameters", json.dumps({"mode": "metrics"}),
        "--output-data-config", json.dumps({"S3OutputPath": "s3://%s/cli" % bucket}),
        "--resource-config", json.dumps({"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}),
        "--stopping-condition", json.dumps({"MaxRuntimeInSeconds": 120}))
    # The CLI's waiter polls every 120 s after its first check; let the job finish first so
    # that first check (which must read our response as "completed") ends it.
    wait(sm, name)
    aws("sagemaker", "wait", "training-job-completed-or-stopped", "--training-job-name", name)
    d = aws("sagemaker", "describe-training-job", "--training-job-name", name).json
    assert d["TrainingJobStatus"] == "Completed"
    assert d["ModelArtifacts"]["S3ModelArtifacts"].endswith("/cli/%s/output/model.tar.gz" % name)


def test_a_waiters_describe_of_a_running_job_answers_when_the_job_ends(sm, bucket, byo_image):
    # boto3's job waiters sleep 120 s between polls; a waiter's Describe (botocore marks it in the
    # User-Agent) of a running job is held until the job ends, so its first poll is the answer.
    # Anyone else polling (the SDK's fit() follows the logs between Describes) is answered at once.
    name = create_job(sm, bucket, byo_image, {"mode": "sleep", "seconds": "2"})
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress"
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"MaxAttempts": 1})
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"


def test_a_job_survives_a_restart_of_sagebox(spawn_sagebox, client_factory, byo_image):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    s3 = client_factory("s3", server.url)
    bucket = unique("restart")
    s3.create_bucket(Bucket=bucket)
    name = create_job(sm, bucket, byo_image, {"mode": "sleep", "seconds": "6"})
    deadline = time.time() + 60
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.time() < deadline
        time.sleep(0.2)
    server.kill()
    server.start()
    d = wait(sm, name, timeout=90)
    assert d["TrainingJobStatus"] == "Completed", d
    assert model_files(s3, d)["slept.txt"] == b"done"


def test_a_job_printing_a_million_lines_in_seconds_keeps_every_line(sm, logs, bucket, byo_image):
    # Faster than Docker's log API reads them back: under the usual daemon rotation (10 MB) the
    # file would be rotated away from the reader and two thirds of the lines, the last included,
    # lost. Every needle (one per 100,000 lines) and the container's last line must be stored.
    name = create_job(sm, bucket, byo_image, {"mode": "flood", "lines": "1000000", "rate": "0"})
    d = wait(sm, name, timeout=600)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    group = "/aws/sagemaker/TrainingJobs"
    found, kwargs = [], {"logGroupName": group, "logStreamNamePrefix": name + "/",
                         "filterPattern": '?"needle" ?"flood:"'}
    while True:
        page = logs.filter_log_events(**kwargs)
        found += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert found[:10] == ["needle %d" % (i * 100_000) for i in range(1, 11)], found[:12]
    assert len(found) == 11 and found[10].startswith("flood: 1000000 lines in "), found[10:]


def chatty_lines(name, bursts, milestone):
    """What fixtures/byo prints in mode `chatty`, in order."""
    out = ["byo: mode=chatty host=algo-1 hosts=['algo-1'] job=%s" % name]
    for i in range(bursts):
        if i == 0:
            out.append("warmup=1")
        if i == milestone:
            out.append("milestone=%d" % i)
        out += ["burst %d line %d" % (i, j) for j in range(3)]
        out += ["same line", "same line", "burst %d loss=%.4f" % (i, 1.0 / (i + 1))]
    return out


def test_lines_printed_while_sagebox_was_down_are_stored_once_with_their_metrics(
    spawn_sagebox, client_factory, byo_image
):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    logs = client_factory("logs", server.url)
    bucket = unique("resume")
    client_factory("s3", server.url).create_bucket(Bucket=bucket)
    bursts, milestone = 120, 60
    name = create_job(sm, bucket, byo_image, {"mode": "chatty", "bursts": str(bursts), "pause": "0.1",
                                              "milestone": str(milestone)},
                      algorithm={"MetricDefinitions": [
                          {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                          {"Name": "warmup", "Regex": r"^warmup=([0-9]+)"},
                          {"Name": "milestone", "Regex": r"^milestone=([0-9]+)"}]})
    arn = sm.describe_training_job(TrainingJobName=name)["TrainingJobArn"]

    def stored():
        # This server's log group is made with the job's first stored line; a slow host
        # starts the container after the first look.
        text = stored_logs(logs, name)
        return text, next(iter(text.values()), "")

    # Sagebox goes down while the container prints: after the warmup is stored, before the
    # milestone is printed.
    deadline = time.time() + 120
    while "burst 3 line 0" not in stored()[1]:
        assert time.time() < deadline, stored()
        time.sleep(0.1)
    server.kill()
    (container,) = subprocess.run(
        ["docker", "ps", "-q", "--filter", "label=sagebox.resource-arn=" + arn],
        capture_output=True, text=True, timeout=60, check=True).stdout.split()

    def printed():
        return subprocess.run(["docker", "logs", container], capture_output=True, text=True,
                              timeout=60).stdout

    assert "milestone=" not in printed(), "the container got past the milestone before sagebox went down"
    deadline = time.time() + 60
    while "burst %d line 0" % (milestone + 5) not in printed():
        assert time.time() < deadline, printed()[-2000:]
        time.sleep(0.1)
    server.start()

    d = wait(sm, name, timeout=120)
    assert d["TrainingJobStatus"] == "Completed", d
    text, _ = stored()
    (stream,) = text
    lines = [line for line in text[stream].split("\n") if not line.startswith("[sagebox]")]
    assert lines == chatty_lines(name, bursts, milestone)
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics == {"train:loss": pytest.approx(1.0 / bursts, abs=1e-4), "warmup": 1.0,
                       "milestone": float(milestone)}


# ----- the SageMaker Python SDK -----

def test_sdk_xgboost_builtin_trains_on_csv(sdk_session, s3, bucket):
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput

    train = sdk_session.upload_data(str(REPO / "fixtures" / "diabetes" / "train.csv"), bucket, "sdk-xgb/train")
    est = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", version="1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                    output_path="s3://%s/sdk-xgb/output" % bucket,
                    hyperparameters={"num_round": 20, "objective": "reg:squarederror", "max_depth": 3})
    est.fit({"train": TrainingInput(train, content_type="text/csv")}, logs=True)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed"
    assert "xgboost-model" in model_files(s3, d)
    # the built-in algorithm's own metric definitions, as SageMaker's XGBoost declares them
    assert "train:rmse" in {m["MetricName"] for m in d["FinalMetricDataList"]}


def test_sdk_linear_learner_trains_on_recordio_protobuf(sdk_session, s3, bucket):
    import numpy as np
    from sagemaker import image_uris
    from sagemaker.amazon.common import write_numpy_to_dense_tensor
    from sagemaker.estimator import Estimator

    data = np.loadtxt(REPO / "fixtures" / "digits_zero" / "train.csv", delimiter=",", dtype="float32")
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, data[:, 1:], data[:, 0])
    s3.put_object(Bucket=bucket, Key="sdk-ll/train/recordio-pb-data", Body=buf.getvalue())
    est = Estimator(image_uri=image_uris.retrieve("linear-learner", "us-east-1"), role=ROLE,
                    instance_count=1, instance_type="ml.c4.xlarge", sagemaker_session=sdk_session,
                    output_path="s3://%s/sdk-ll/output" % bucket)
    est.set_hyperparameters(feature_dim=64, predictor_type="binary_classifier", mini_batch_size=100, epochs=5)
    est.fit({"train": "s3://%s/sdk-ll/train/" % bucket}, logs=True)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert model_files(s3, d)


def test_sdk_sklearn_script_mode_with_entry_point(sdk_session, s3, bucket):
    from sagemaker.sklearn import SKLearn

    train = sdk_session.upload_data(str(REPO / "fixtures" / "digits_zero" / "train.csv"), bucket, "sdk-skl/train")
    est = SKLearn(entry_point="train.py", source_dir=str(REPO / "fixtures" / "sklearn_script"),
                  framework_version="1.2-1", py_version="py3", role=ROLE, instance_count=1,
                  instance_type="ml.m5.large", sagemaker_session=sdk_session,
                  output_path="s3://%s/sdk-skl/output" % bucket, code_location="s3://%s/sdk-skl/code" % bucket,
                  hyperparameters={"max_iter": 500})
    est.fit({"train": train}, logs=True)
    d = sdk_session.describe_training_job(est.latest_training_job.name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert "model.joblib" in model_files(s3, d)


def test_a_job_with_an_experiment_config_is_a_trial_component_of_its_trial(sm, bucket, byo_image):
    """As SageMaker does: `<job>-aws-training-job` with the job as Source, its hyperparameters as
    Parameters, in the config's trial; at the end its status, end time and final metrics."""
    experiment, trial = unique("exp"), unique("trial")
    sm.create_experiment(ExperimentName=experiment)
    sm.create_trial(TrialName=trial, ExperimentName=experiment)
    name = create_job(sm, bucket, byo_image, {"mode": "metrics"}, algorithm={"MetricDefinitions": [
        {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]},
        ExperimentConfig={"ExperimentName": experiment, "TrialName": trial})
    d = wait(sm, name)
    assert d["TrainingJobStatus"] == "Completed"
    component = f"{name}-aws-training-job"
    tc = sm.describe_trial_component(TrialComponentName=component)
    assert tc["Source"] == {"SourceArn": d["TrainingJobArn"], "SourceType": "SageMakerTrainingJob"}
    assert tc["Status"]["PrimaryStatus"] == "Completed"
    assert tc["StartTime"] <= tc["EndTime"]
    assert tc["Parameters"]["mode"] == {"StringValue": "metrics"}
    assert tc["Parameters"]["SageMaker.InstanceType"] == {"StringValue": "ml.m5.large"}
    # the image and each channel are its input artifacts, the model its output artifact
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in d.get("InputDataConfig", [])}
    assert {k: v["Value"] for k, v in tc["InputArtifacts"].items()} == {
        "SageMaker.ImageUri": d["AlgorithmSpecification"]["TrainingImage"], **channels}
    assert tc["OutputArtifacts"] == {"SageMaker.ModelArtifact": {"Value": d["ModelArtifacts"]["S3ModelArtifacts"]}}
    [loss] = tc["Metrics"]
    assert (loss["MetricName"], loss["Last"]) == ("train:loss", pytest.approx(0.333))
    listed = sm.list_trial_components(TrialName=trial)["TrialComponentSummaries"]
    assert [c["TrialComponentName"] for c in listed] == [component]
    by_source = sm.list_trial_components(SourceArn=d["TrainingJobArn"])["TrialComponentSummaries"]
    assert [c["TrialComponentName"] for c in by_source] == [component]
