"""Processing jobs with real containers, driven by the SageMaker Python SDK, boto3 and the AWS CLI:
SKLearnProcessor feeding a built-in XGBoost training job, a two-instance ScriptProcessor with
sharded input, Continuous outputs, stops, failures, errors and listing. The scripts the jobs run
are in fixtures/processing; the image is sagebox's scikit-learn image (the SDK's sklearn URI)."""

import json
import os
import time

import pytest
from botocore.exceptions import ClientError

from support import REPO, docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
SKLEARN_URI = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SCRIPTS = REPO / "fixtures" / "processing"
ABALONE = REPO / "fixtures" / "samples" / "objects" / "datasets" / "tabular" / "uci_abalone" / "abalone.libsvm"
CODE_DIR = "/opt/ml/processing/input/code"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


@pytest.fixture(scope="module")
def code(s3, bucket):
    """Every fixture script, uploaded once: name → its S3 URI."""
    uris = {}
    for path in SCRIPTS.glob("*.py"):
        key = "code/%s" % path.name
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        uris[path.name] = "s3://%s/%s" % (bucket, key)
    return uris


def code_input(uri):
    return {"InputName": "code", "S3Input": {
        "S3Uri": uri, "LocalPath": CODE_DIR, "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated"}}


def create_job(sm, code, script, args=(), name=None, outputs=(), inputs=(), count=1, **extra):
    name = name or unique("proc")
    sm.create_processing_job(
        ProcessingJobName=name,
        AppSpecification={"ImageUri": SKLEARN_URI,
                          "ContainerEntrypoint": ["python3", "%s/%s" % (CODE_DIR, script)],
                          **({"ContainerArguments": list(args)} if args else {})},
        ProcessingInputs=[code_input(code[script]), *inputs],
        **({"ProcessingOutputConfig": {"Outputs": list(outputs)}} if outputs else {}),
        ProcessingResources={"ClusterConfig": {"InstanceCount": count, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        RoleArn=ROLE,
        **extra,
    )
    return name


def wait(sm, name, timeout=300, until=("Completed", "Failed", "Stopped")):
    deadline = time.time() + timeout
    while True:
        d = sm.describe_processing_job(ProcessingJobName=name)
        if d["ProcessingJobStatus"] in until:
            return d
        assert time.time() < deadline, d
        time.sleep(0.3)


def code_of(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_sdk_sklearn_processor_feeds_builtin_xgboost_training(sdk_session, s3, bucket, capsys):
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor

    raw = sdk_session.upload_data(str(ABALONE), bucket, "abalone/raw")
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type="ml.m5.large",
                                 instance_count=1, sagemaker_session=sdk_session)
    processor.run(
        code=str(SCRIPTS / "preprocess.py"),
        inputs=[ProcessingInput(source=raw, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name=n, source="/opt/ml/processing/%s" % n)
                 for n in ("train", "validation", "test")],
        logs=True,
    )
    # wait(logs=True) followed the job's CloudWatch stream
    assert "preprocessing done: 442 rows" in capsys.readouterr().out
    d = processor.latest_job.describe()
    assert d["ProcessingJobStatus"] == "Completed"
    assert d["AppSpecification"]["ImageUri"] == SKLEARN_URI
    assert d["ProcessingStartTime"] <= d["ProcessingEndTime"]
    outs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in d["ProcessingOutputConfig"]["Outputs"]}
    counts = {}
    for name, uri in outs.items():
        b, _, prefix = uri[len("s3://"):].partition("/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix=prefix)["Contents"]]
        assert keys == ["%s/%s.libsvm" % (prefix, name)]
        counts[name] = len(s3.get_object(Bucket=b, Key=keys[0])["Body"].read().splitlines())
    assert counts == {"train": 309, "validation": 66, "test": 67}

    est = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", version="1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                    output_path="s3://%s/abalone/model" % bucket,
                    hyperparameters={"num_round": 5, "objective": "reg:squarederror", "max_depth": 3})
    est.fit({c: TrainingInput(outs[c], content_type="text/libsvm") for c in ("train", "validation")},
            logs=False)
    t = sdk_session.describe_training_job(est.latest_training_job.name)
    assert t["TrainingJobStatus"] == "Completed", t.get("FailureReason")
    assert "validation:rmse" in {m["MetricName"] for m in t["FinalMetricDataList"]}


def test_two_instance_script_processor_shards_by_s3_key(sdk_session, s3, bucket):
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor

    keys = ["shards/in/part-%d.csv" % i for i in range(5)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x\n")
    processor = ScriptProcessor(image_uri=SKLEARN_URI, command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=2,
                                env={"GREETING": "hello"}, sagemaker_session=sdk_session)
    processor.run(
        code=str(SCRIPTS / "shards.py"),
        inputs=[ProcessingInput(source="s3://%s/shards/in" % bucket,
                                destination="/opt/ml/processing/input/data",
                                s3_data_distribution_type="ShardedByS3Key")],
        outputs=[ProcessingOutput(output_name="report", source="/opt/ml/processing/output",
                                  destination="s3://%s/shards/out" % bucket)],
        logs=False,
    )
    name = processor.latest_job.job_name
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"
    seen = {}
    for host in ("algo-1", "algo-2"):
        body = s3.get_object(Bucket=bucket, Key="shards/out/%s.json" % host)["Body"].read()
        report = json.loads(body)
        assert (report["host"], report["hosts"], report["job"], report["env"]) == (
            host, ["algo-1", "algo-2"], name, "hello")
        seen[host] = set(report["files"])
    assert seen == {"algo-1": {"part-0.csv", "part-2.csv", "part-4.csv"},
                    "algo-2": {"part-1.csv", "part-3.csv"}}


def test_continuous_output_reaches_s3_while_running_and_stop_ends_the_job(sm, s3, bucket, code):
    prefix = unique("cont")
    name = create_job(sm, code, "continuous.py", outputs=[{"OutputName": "progress", "S3Output": {
        "S3Uri": "s3://%s/%s" % (bucket, prefix), "LocalPath": "/opt/ml/processing/progress",
        "S3UploadMode": "Continuous"}}])
    deadline = time.time() + 180
    while "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix):
        assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
        assert time.time() < deadline
        time.sleep(0.3)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    body = s3.get_object(Bucket=bucket, Key="%s/step-1.txt" % prefix)["Body"].read()
    assert body == b"first step done\n"

    sm.stop_processing_job(ProcessingJobName=name)
    assert sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "Stopping"
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Stopped"
    assert "FailureReason" not in d and d["ProcessingEndTime"] >= d["ProcessingStartTime"]
    assert code_of(lambda: sm.stop_processing_job(ProcessingJobName=name)) == (
        "ValidationException",
        "The request was rejected because the processing job is in status Stopped.", 400)


def test_failing_scripts_report_sagemakers_failure_reason_and_exit_message(sm, code, logs):
    with_message = create_job(sm, code, "fail.py", args=["bad input: no rows"])
    bare = create_job(sm, code, "fail.py")
    d = wait(sm, with_message)
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"] == "AlgorithmError: bad input: no rows"
    assert d["ExitMessage"] == "bad input: no rows"
    d = wait(sm, bare)
    assert d["ProcessingJobStatus"] == "Failed"
    assert d["FailureReason"] == (
        "AlgorithmError: See job logs for more information (algo-1 exited with code 3)")
    assert "ExitMessage" not in d
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                        logStreamNamePrefix=bare + "/")["logStreams"]
    assert [s["logStreamName"].rsplit("-", 1)[0] for s in streams] == ["%s/algo-1" % bare]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=streams[0]["logStreamName"])["events"]
    assert "about to fail" in [e["message"] for e in events]


def test_errors_name_what_is_wrong(sm, bucket, code):
    name = create_job(sm, code, "noop.py")
    arn = "arn:aws:sagemaker:us-east-1:000000000000:processing-job/%s" % name
    assert code_of(lambda: create_job(sm, code, "noop.py", name=name)) == (
        "ResourceInUse",
        "Job names must be unique within an AWS account and region, and a job with this name "
        "already exists (%s)" % arn, 400)
    missing = unique("missing")
    assert code_of(lambda: sm.describe_processing_job(ProcessingJobName=missing)) == (
        "ValidationException", "Could not find requested job with name %s" % missing, 400)
    assert code_of(lambda: sm.stop_processing_job(ProcessingJobName=missing)) == (
        "ValidationException", "Could not find requested job with name %s" % missing, 400)
    athena = {"InputName": "query", "DatasetDefinition": {
        "AthenaDatasetDefinition": {"Catalog": "AwsDataCatalog", "Database": "db",
                                    "QueryString": "SELECT 1", "WorkGroup": "primary",
                                    "OutputS3Uri": "s3://%s/athena" % bucket,
                                    "OutputFormat": "PARQUET"},
        "LocalPath": "/opt/ml/processing/query"}}
    err, message, status = code_of(lambda: create_job(sm, code, "noop.py", inputs=[athena]))
    assert (err, status) == ("ValidationException", 400)
    assert message == (
        "ProcessingInputs[1] ('query'): DatasetDefinition inputs (Athena and Redshift queries) are "
        "not supported by sagebox; export the data to S3 and give it as S3Input instead.")
    spark = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.3-cpu-py39-v1.0"
    err, message, _ = code_of(lambda: sm.create_processing_job(
        ProcessingJobName=unique("spark"), AppSpecification={"ImageUri": spark}, RoleArn=ROLE,
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5}}))
    assert err == "ValidationException" and "Spark" in message and "PySparkProcessor" in message
    assert wait(sm, name)["ProcessingJobStatus"] == "Completed"


def test_aws_cli_creates_a_job_and_waits_for_it(aws, sm, code):
    name = unique("cli")
    aws("sagemaker", "create-processing-job", "--processing-job-name", name,
        "--app-specification", json.dumps({"ImageUri": SKLEARN_URI,
                                           "ContainerEntrypoint": ["python3", CODE_DIR + "/noop.py"]}),
        "--processing-inputs", json.dumps([code_input(code["noop.py"])]),
        "--processing-resources", json.dumps({"ClusterConfig": {
            "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}}),
        "--role-arn", ROLE)
    # The CLI's waiter sleeps between checks; let the job end first so its first check ends it.
    wait(sm, name)
    aws("sagemaker", "wait", "processing-job-completed-or-stopped", "--processing-job-name", name)
    d = aws("sagemaker", "describe-processing-job", "--processing-job-name", name).json
    assert d["ProcessingJobStatus"] == "Completed"
    assert d["ProcessingJobArn"].endswith(":processing-job/%s" % name)


def test_list_filters_sorts_pages_and_tags(sm, code):
    prefix = unique("lst")
    names = [create_job(sm, code, "noop.py", name="%s-%d" % (prefix, i),
                        Tags=[{"Key": "n", "Value": str(i)}]) for i in range(3)]
    failed = create_job(sm, code, "fail.py", name="%s-x" % prefix)
    for n in [*names, failed]:
        wait(sm, n)

    def listed(**kw):
        out, token = [], None
        while True:
            page = sm.list_processing_jobs(NameContains=prefix, MaxResults=2,
                                           **({"NextToken": token} if token else {}), **kw)
            assert len(page["ProcessingJobSummaries"]) <= 2
            out += page["ProcessingJobSummaries"]
            token = page.get("NextToken")
            if not token:
                return out

    everything = [*names, failed]
    assert [j["ProcessingJobName"] for j in listed()] == everything[::-1]
    assert [j["ProcessingJobName"] for j in listed(SortBy="Name", SortOrder="Ascending")] == everything
    by_status = listed(SortBy="Status", SortOrder="Descending")
    assert [j["ProcessingJobStatus"] for j in by_status] == ["Failed", "Completed", "Completed", "Completed"]
    assert by_status[0]["FailureReason"].startswith("AlgorithmError: ")
    assert {j["ProcessingJobName"] for j in listed(StatusEquals="Completed")} == set(names)
    assert listed(LastModifiedTimeAfter=time.time() + 3600) == []
    assert len(listed(LastModifiedTimeBefore=time.time() + 3600)) == 4
    assert listed(CreationTimeAfter=time.time() + 3600) == []

    arn = sm.describe_processing_job(ProcessingJobName=names[1])["ProcessingJobArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "n", "Value": "1"},
                                                     {"Key": "team", "Value": "ml"}]


def test_pipe_gzip_and_manifest_inputs_arrive_as_sagemaker_delivers_them(sm, s3, bucket, code):
    import gzip

    prefix = unique("kinds")
    for i in range(2):
        s3.put_object(Bucket=bucket, Key="%s/pipe/p%d.txt" % (prefix, i), Body=b"line %d\n" % i)
    s3.put_object(Bucket=bucket, Key="%s/gz/a.csv.gz" % prefix, Body=gzip.compress(b"1,2\n3,4\n"))
    for k in ("one.txt", "two.txt", "skipped.txt"):
        s3.put_object(Bucket=bucket, Key="%s/many/%s" % (prefix, k), Body=k.encode())
    manifest = [{"prefix": "s3://%s/%s/many/" % (bucket, prefix)}, "one.txt", "two.txt"]
    s3.put_object(Bucket=bucket, Key="%s/manifest.json" % prefix, Body=json.dumps(manifest).encode())

    def s3_input(name, key, local, **kw):
        return {"InputName": name, "S3Input": {
            "S3Uri": "s3://%s/%s/%s" % (bucket, prefix, key), "LocalPath": local,
            "S3DataType": kw.get("data_type", "S3Prefix"), "S3InputMode": kw.get("mode", "File"),
            "S3CompressionType": kw.get("compression", "None")}}

    name = create_job(sm, code, "inputs.py", inputs=[
        s3_input("piped", "pipe", "/opt/ml/processing/pipe/data", mode="Pipe"),
        s3_input("zipped", "gz", "/opt/ml/processing/gz", compression="Gzip"),
        s3_input("listed", "manifest.json", "/opt/ml/processing/listed", data_type="ManifestFile"),
    ], outputs=[{"OutputName": "report", "S3Output": {
        "S3Uri": "s3://%s/%s/out" % (bucket, prefix), "LocalPath": "/opt/ml/processing/report",
        "S3UploadMode": "EndOfJob"}}])
    d = wait(sm, name)
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    report = json.loads(s3.get_object(Bucket=bucket, Key="%s/out/report.json" % prefix)["Body"].read())
    assert report == {"pipe": "line 0\nline 1\n", "fifo_is_fifo": True,
                      "gzip": {"a.csv": "1,2\n3,4\n"},
                      "manifest": {"one.txt": "one.txt", "two.txt": "two.txt"}}


@pytest.mark.parametrize("framework", ["sklearn", "pytorch"])
def test_sdk_framework_processor_runs_a_source_dir(sdk_session, s3, bucket, framework):
    from sagemaker.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput
    from sagemaker.pytorch.estimator import PyTorch
    from sagemaker.sklearn.estimator import SKLearn

    if framework == "sklearn":
        # runproc.sh runs `python <script>` by default, as on SageMaker's image
        kind = dict(estimator_cls=SKLearn, framework_version="1.2-1")
    else:
        kind = dict(estimator_cls=PyTorch, framework_version="2.1", py_version="py310")
    s3.put_object(Bucket=bucket, Key="fw-%s/in/only.csv" % framework, Body=b"x\n")
    processor = FrameworkProcessor(role=ROLE, instance_type="ml.m5.large", instance_count=1,
                                   env={"GREETING": framework}, sagemaker_session=sdk_session, **kind)
    processor.run(
        code="shards.py", source_dir=str(SCRIPTS),
        inputs=[ProcessingInput(source="s3://%s/fw-%s/in" % (bucket, framework),
                                destination="/opt/ml/processing/input/data")],
        outputs=[ProcessingOutput(output_name="report", source="/opt/ml/processing/output",
                                  destination="s3://%s/fw-%s/out" % (bucket, framework))],
        logs=False,
    )
    d = processor.latest_job.describe()
    assert d["ProcessingJobStatus"] == "Completed", d.get("FailureReason")
    body = s3.get_object(Bucket=bucket, Key="fw-%s/out/algo-1.json" % framework)["Body"].read()
    report = json.loads(body)
    assert (report["files"], report["env"]) == (["only.csv"], framework)


def test_sdk_processor_runs_a_bring_your_own_image(sdk_session, s3, bucket, byo_image):
    from sagemaker.processing import Processor, ProcessingOutput

    write_args = ("import os, sys; os.makedirs('/opt/ml/processing/out', exist_ok=True); "
                  "open('/opt/ml/processing/out/args.txt', 'w').write(' '.join(sys.argv[1:]))")
    processor = Processor(role=ROLE, image_uri=byo_image, instance_count=1, instance_type="ml.m5.large",
                          entrypoint=["python3", "-c", write_args], sagemaker_session=sdk_session)
    processor.run(arguments=["--alpha", "1"], logs=False,
                  outputs=[ProcessingOutput(source="/opt/ml/processing/out",
                                            destination="s3://%s/byo/out" % bucket)])
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"
    assert s3.get_object(Bucket=bucket, Key="byo/out/args.txt")["Body"].read() == b"--alpha 1"


def test_a_job_survives_a_restart_of_sagebox(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    s3 = client_factory("s3", server.url)
    logs = client_factory("logs", server.url)
    bucket = unique("restart")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="code/slow.py", Body=(SCRIPTS / "slow.py").read_bytes())
    name = create_job(sm, {"slow.py": "s3://%s/code/slow.py" % bucket}, "slow.py", args=["6"],
                      outputs=[{"OutputName": "out", "S3Output": {
                          "S3Uri": "s3://%s/out" % bucket, "LocalPath": "/opt/ml/processing/out",
                          "S3UploadMode": "EndOfJob"}}])
    deadline = time.time() + 60
    while "ProcessingStartTime" not in sm.describe_processing_job(ProcessingJobName=name):
        assert time.time() < deadline
        time.sleep(0.2)
    server.kill()
    server.start()
    d = wait(sm, name, timeout=90)
    assert d["ProcessingJobStatus"] == "Completed", d
    assert s3.get_object(Bucket=bucket, Key="out/done.txt")["Body"].read() == b"done"
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                       logStreamNamePrefix=name + "/")["logStreams"]
    assert len(stream) == 1
    lines = [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=stream[0]["logStreamName"],
        startFromHead=True)["events"]]
    assert [l for l in lines if l.startswith("slow:")] == ["slow: sleeping", "slow: done"]
