"""Endpoints and batch transform with real containers, driven by boto3, the AWS CLI and the
SageMaker Python SDK: deploy, invoke (plain and streamed), errors from the model, weights,
TargetVariant, round robin, scaling, blue/green updates, restarts of a dead container, re-adoption
after a sagebox restart, deletion, and transform jobs with splitting, batching and joins.
Images: the bring-your-own image from fixtures/byo (its `serve` side) and sagebox's emulator
images for the SDK walk-throughs."""

import base64
import collections
import io
import json
import os
import subprocess
import tarfile
import threading
import time

import pytest
import requests
from botocore.exceptions import ClientError

from support import model_tar_gz, ACCOUNT, REPO, docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


@pytest.fixture(scope="module")
def rt(sagebox, client_factory):
    return client_factory("sagemaker-runtime", sagebox.url, read_timeout=90)


@pytest.fixture(scope="module")
def model_data(s3, bucket):
    """A model.tar.gz holding one file, as a training job would leave it."""
    s3.put_object(Bucket=bucket, Key="byo/model.tar.gz", Body=model_tar_gz())
    return "s3://%s/byo/model.tar.gz" % bucket


def byo_model(sm, image, model_data, **env):
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": image, "ModelDataUrl": model_data, "Environment": env})
    return name


def variant(model, name="AllTraffic", count=1, weight=1.0, **extra):
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": count,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": weight, **extra}


def deploy(sm, variants, name=None):
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants)
    name = name or unique("ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name


def wait_endpoint(sm, name, timeout=180, until=("InService", "Failed")):
    deadline = time.time() + timeout
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] in until:
            return d
        assert time.time() < deadline, d
        time.sleep(0.2)


def listed_status(sm, name):
    """The endpoint's status as ListEndpoints shows it: never held, so a test sees the
    transitional statuses a held DescribeEndpoint waits through."""
    found = [e for e in sm.list_endpoints(NameContains=name, MaxResults=100)["Endpoints"]
             if e["EndpointName"] == name]
    return found[0]["EndpointStatus"] if found else None


def containers_of(arn):
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=sagebox.resource-arn=" + arn],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def invoke_json(rt, name, body=b"{}", **extra):
    r = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="application/json", **extra)
    return r, json.loads(r["Body"].read())


def received(echo):
    """Every header a byo container received (all copies; names lowercased), sorted, with Host
    checked (sagebox's loopback connection) and left out."""
    got = sorted((k.lower(), v) for k, v in echo["headers"])
    hosts = [v for k, v in got if k == "host"]
    assert len(hosts) == 1 and hosts[0].startswith("127.0.0.1:"), got
    return [(k, v) for k, v in got if k != "host"]


@pytest.fixture(scope="module")
def byo_endpoint(sm, byo_image, model_data):
    """One endpoint of the byo image with two instances, shared by the invocation tests."""
    model = byo_model(sm, byo_image, model_data, BYO_TAG="blue")
    name = deploy(sm, [variant(model, count=2)])
    d = wait_endpoint(sm, name)
    assert d["EndpointStatus"] == "InService", d.get("FailureReason")
    return name


def test_endpoint_is_described_as_sagemaker_does(sm, byo_endpoint, byo_image):
    d = sm.describe_endpoint(EndpointName=byo_endpoint)
    assert d["EndpointArn"] == "arn:aws:sagemaker:us-east-1:%s:endpoint/%s" % (ACCOUNT, byo_endpoint.lower())
    (v,) = d["ProductionVariants"]
    assert v["VariantName"] == "AllTraffic"
    assert v["CurrentInstanceCount"] == 2 and v["DesiredInstanceCount"] == 2
    assert v["CurrentWeight"] == 1.0
    assert v["DeployedImages"][0]["SpecifiedImage"] == byo_image
    listed = sm.list_endpoints(NameContains=byo_endpoint)["Endpoints"]
    assert [e["EndpointStatus"] for e in listed] == ["InService"]
    assert sm.list_endpoints(StatusEquals="Failed", NameContains=byo_endpoint)["Endpoints"] == []


def test_invoke_passes_body_headers_and_model_data(rt, byo_endpoint):
    r, body = invoke_json(rt, byo_endpoint, b'{"x": 1}', Accept="application/json",
                          CustomAttributes="trace=42")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["InvokedProductionVariant"] == "AllTraffic"
    assert r["ContentType"] == "application/json"
    assert r["CustomAttributes"] == "echo=trace=42"
    assert body["body"] == '{"x": 1}'
    assert body["content_type"] == "application/json" and body["accept"] == "application/json"
    assert body["model_files"] == ["model.json"]
    assert body["tag"] == "blue"


def test_the_container_gets_each_header_once_and_nothing_else(rt, byo_endpoint):
    # SageMaker strips every request header but those of the API; Content-Type and Accept arrive
    # once each (a copy too many made the scikit-learn container answer 406), TargetVariant
    # only routes, and the caller's signature, date and user agent stay with sagebox.
    payload = b'{"x": [1, 2, 3]}'
    _, body = invoke_json(rt, byo_endpoint, payload, Accept="application/x-npy",
                          CustomAttributes="trace=7", TargetVariant="AllTraffic")
    assert received(body) == [
        ("accept", "application/x-npy"),
        ("content-length", str(len(payload))),
        ("content-type", "application/json"),
        ("x-amzn-sagemaker-custom-attributes", "trace=7"),
    ]
    assert base64.b64decode(body["body_base64"]) == payload
    # no Accept, no custom attributes: none is made up
    _, body = invoke_json(rt, byo_endpoint, payload)
    assert received(body) == [("content-length", str(len(payload))), ("content-type", "application/json")]


def test_instances_take_turns(rt, byo_endpoint):
    hosts = collections.Counter(invoke_json(rt, byo_endpoint)[1]["host"] for _ in range(10))
    assert len(hosts) == 2 and set(hosts.values()) == {5}, hosts


def test_model_errors_come_back_as_model_error(rt, byo_endpoint):
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=byo_endpoint, Body=b"{}", ContentType="application/json",
                           CustomAttributes="status=400")
    err = e.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 400
    assert err["OriginalMessage"] == "bad input from byo"
    assert "Received client error (400) from primary" in err["Error"]["Message"]
    assert err["LogStreamArn"].endswith("log-group:/aws/sagemaker/Endpoints/%s" % byo_endpoint)
    with pytest.raises(rt.exceptions.ModelError):
        rt.invoke_endpoint(EndpointName=byo_endpoint, Body=b"{}", CustomAttributes="status=503")


def test_unknown_endpoint_and_oversized_payload_are_validation_errors(rt, byo_endpoint):
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"{}")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == "Endpoint no-such-endpoint of account %s not found." % ACCOUNT
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName=byo_endpoint, Body=b"x" * (6 * 1024 * 1024 + 1))
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "6291456" in e.value.response["Error"]["Message"]


def test_response_stream_arrives_as_payload_parts(rt, byo_endpoint):
    r = rt.invoke_endpoint_with_response_stream(EndpointName=byo_endpoint, Body=b"{}",
                                                ContentType="application/json", CustomAttributes="stream")
    assert r["InvokedProductionVariant"] == "AllTraffic"
    assert r["ContentType"] == "text/plain"
    parts = [e["PayloadPart"]["Bytes"] for e in r["Body"] if "PayloadPart" in e]
    assert b"".join(parts) == b"".join(b"part-%d\n" % i for i in range(5))
    assert len(parts) >= 2  # relayed as it came, not gathered


def test_logs_reach_cloudwatch_per_container(logs, byo_endpoint):
    group = "/aws/sagemaker/Endpoints/" + byo_endpoint
    deadline = time.time() + 20
    while True:
        streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
        containers = [s for s in streams if not s.endswith("/sagebox")]
        if len(containers) == 2:
            break
        assert time.time() < deadline, streams
        time.sleep(0.5)
    assert all(s.startswith("AllTraffic/") for s in containers)
    events = logs.get_log_events(logGroupName=group, logStreamName=containers[0], startFromHead=True)["events"]
    assert any("byo serve: starting" in e["message"] for e in events)


def test_aws_cli_invokes_an_endpoint(aws, byo_endpoint, tmp_path):
    out = tmp_path / "out.json"
    aws("sagemaker-runtime", "invoke-endpoint", "--endpoint-name", byo_endpoint, "--body", '{"cli": true}',
        "--content-type", "application/json", str(out))
    assert json.loads(out.read_text())["body"] == '{"cli": true}'


def test_weights_target_variant_and_scaling(sm, rt, byo_image, model_data):
    a = byo_model(sm, byo_image, model_data, BYO_TAG="a")
    b = byo_model(sm, byo_image, model_data, BYO_TAG="b")
    name = deploy(sm, [variant(a, "A", weight=3.0), variant(b, "B", weight=1.0)])
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    seen = collections.Counter(rt.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
                               ["InvokedProductionVariant"] for _ in range(200))
    # 3:1 weights: A's share is 0.75 (sd 0.031 over 200 calls)
    assert 0.6 < seen["A"] / 200 < 0.9, seen
    for _ in range(5):
        r, body = invoke_json(rt, name, TargetVariant="B")
        assert r["InvokedProductionVariant"] == "B" and body["tag"] == "b"
    with pytest.raises(ClientError) as e:
        invoke_json(rt, name, TargetVariant="C")
    assert e.value.response["Error"]["Code"] == "ValidationError"

    sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": "B", "DesiredWeight": 0.0}, {"VariantName": "A", "DesiredInstanceCount": 2}])
    # ListEndpoints answers at once (a Describe in transition is held until it ends)
    assert listed_status(sm, name) == "Updating"
    d = wait_endpoint(sm, name)
    by_name = {v["VariantName"]: v for v in d["ProductionVariants"]}
    assert by_name["A"]["CurrentInstanceCount"] == 2 and by_name["B"]["CurrentWeight"] == 0.0
    assert {invoke_json(rt, name)[0]["InvokedProductionVariant"] for _ in range(20)} == {"A"}
    with pytest.raises(ClientError) as e:
        sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
            {"VariantName": "Z", "DesiredWeight": 1.0}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    sm.delete_endpoint(EndpointName=name)


def test_update_endpoint_is_blue_green(sm, rt, byo_image, model_data):
    blue = byo_model(sm, byo_image, model_data, BYO_TAG="blue")
    green = byo_model(sm, byo_image, model_data, BYO_TAG="green")
    name = deploy(sm, [variant(blue)])
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    old = containers_of(sm.describe_endpoint(EndpointName=name)["EndpointArn"])
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(green)])
    failures, tags, stop = [], collections.Counter(), threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                tags[invoke_json(rt, name)[1]["tag"]] += 1
            except Exception as e:  # noqa: BLE001 - counted
                failures.append(repr(e))

    t = threading.Thread(target=traffic)
    t.start()
    try:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
        d = wait_endpoint(sm, name, until=("InService",))
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    assert d["EndpointConfigName"] == config, d.get("FailureReason")
    assert failures == [], failures[:3]
    assert tags["blue"] > 0 and tags["green"] > 0, tags
    assert invoke_json(rt, name)[1]["tag"] == "green"
    assert not set(old) & set(containers_of(d["EndpointArn"]))
    with pytest.raises(ClientError) as e:
        sm.update_endpoint(EndpointName=name, EndpointConfigName="no-such-config")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    sm.delete_endpoint(EndpointName=name)


def test_update_endpoint_lets_the_old_instances_finish_their_requests(sm, rt, byo_image, model_data):
    blue = byo_model(sm, byo_image, model_data, BYO_TAG="blue")
    green = byo_model(sm, byo_image, model_data, BYO_TAG="green")
    name = deploy(sm, [variant(blue)])
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    config = unique("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(green)])
    outcome = {}

    def slow():
        try:
            outcome["answer"] = invoke_json(rt, name, CustomAttributes="sleep=15")[1]
        except ClientError as e:
            outcome["error"] = e.response

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(1)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    d = wait_endpoint(sm, name, until=("InService",))
    assert d["EndpointConfigName"] == config, d.get("FailureReason")
    assert t.is_alive(), outcome  # traffic moved while the old instance was still answering
    assert invoke_json(rt, name)[1]["tag"] == "green"
    t.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["answer"]["tag"] == "blue"
    sm.delete_endpoint(EndpointName=name)


def test_a_dead_container_is_restarted(sm, rt, byo_image, model_data):
    name = deploy(sm, [variant(byo_model(sm, byo_image, model_data))])
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    with pytest.raises(ClientError) as e:
        invoke_json(rt, name, CustomAttributes="crash")
    assert e.value.response["Error"]["Code"] == "ModelError"
    deadline = time.time() + 60
    while True:
        try:
            invoke_json(rt, name)
            break
        except ClientError:
            assert time.time() < deadline
            time.sleep(0.3)
    assert sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    sm.delete_endpoint(EndpointName=name)


def test_a_model_that_fails_to_load_fails_the_endpoint(sm, rt, byo_image, model_data):
    model = byo_model(sm, byo_image, model_data, BYO_FAIL_TO_LOAD="weights are corrupt")
    name = deploy(sm, [variant(model)])
    d = wait_endpoint(sm, name, timeout=60)
    assert d["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in d["FailureReason"]
    assert "weights are corrupt" in d["FailureReason"]
    assert containers_of(d["EndpointArn"]) == []
    with pytest.raises(ClientError) as e:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=d["EndpointConfigName"])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    sm.delete_endpoint(EndpointName=name)


def test_an_inference_pipeline_calls_its_containers_in_order(sm, rt, byo_image, model_data):
    name = unique("pipeline")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, Containers=[
        {"Image": byo_image, "ModelDataUrl": model_data, "Environment": {"BYO_TAG": "first"}},
        {"Image": byo_image, "Environment": {"BYO_TAG": "second"}}])
    ep = deploy(sm, [variant(name)])
    d = wait_endpoint(sm, ep)
    assert d["EndpointStatus"] == "InService", d.get("FailureReason")
    assert len(d["ProductionVariants"][0]["DeployedImages"]) == 2
    _, outer = invoke_json(rt, ep, b'{"x": 1}', Accept="application/json", CustomAttributes="c=1")
    inner = json.loads(outer["body"])
    assert (outer["tag"], inner["tag"], inner["body"]) == ("second", "first", '{"x": 1}')
    assert outer["content_type"] == "application/json" and outer["model_files"] == []
    # the first container gets the caller's Content-Type and */*; the last one the previous
    # answer's Content-Type and the caller's Accept; each header once
    assert received(inner) == [
        ("accept", "*/*"),
        ("content-length", "8"),
        ("content-type", "application/json"),
        ("x-amzn-sagemaker-custom-attributes", "c=1"),
    ]
    assert received(outer) == [
        ("accept", "application/json"),
        ("content-length", str(len(outer["body"].encode()))),
        ("content-type", "application/json"),
        ("x-amzn-sagemaker-custom-attributes", "c=1"),
    ]
    sm.delete_endpoint(EndpointName=ep)


def test_create_endpoint_errors(sm, byo_image, model_data):
    with pytest.raises(ClientError) as e:
        sm.create_endpoint(EndpointName=unique("ep"), EndpointConfigName="no-such-config")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Could not find endpoint configuration" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.describe_endpoint(EndpointName="no-such-endpoint")
    assert e.value.response["Error"]["Message"] == (
        'Could not find endpoint "arn:aws:sagemaker:us-east-1:%s:endpoint/no-such-endpoint".' % ACCOUNT)
    with pytest.raises(ClientError):
        sm.delete_endpoint(EndpointName="no-such-endpoint")


def test_delete_endpoint_leaves_nothing_behind(sm, rt, byo_image, model_data):
    name = deploy(sm, [variant(byo_model(sm, byo_image, model_data), count=2)])
    arn = wait_endpoint(sm, name)["EndpointArn"]
    assert len(containers_of(arn)) == 2
    sm.delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError):
        invoke_json(rt, name)
    deadline = time.time() + 30
    while True:
        try:
            sm.describe_endpoint(EndpointName=name)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException"
            break
        assert time.time() < deadline
        time.sleep(0.2)
    assert containers_of(arn) == []


def test_delete_endpoint_lets_requests_in_flight_finish(sm, rt, byo_image, model_data):
    name = deploy(sm, [variant(byo_model(sm, byo_image, model_data))])
    arn = wait_endpoint(sm, name)["EndpointArn"]
    outcome = {}

    def slow():
        try:
            outcome["answer"] = invoke_json(rt, name, b'{"slow": 1}', CustomAttributes="sleep=4")[1]
        except ClientError as e:
            outcome["error"] = e.response

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(1.5)  # the request is in the container, sleeping
    sm.delete_endpoint(EndpointName=name)
    assert listed_status(sm, name) == "Deleting"
    # a new request gets AWS's answer for an endpoint that is gone ...
    with pytest.raises(ClientError) as e:
        invoke_json(rt, name)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == "Endpoint %s of account %s not found." % (name, ACCOUNT)
    # ... while the one in flight gets the container's answer, not a ModelError
    t.join(60)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["answer"]["body"] == '{"slow": 1}'
    deadline = time.time() + 30
    while containers_of(arn):
        assert time.time() < deadline
        time.sleep(0.3)


def test_an_endpoint_survives_a_restart_of_sagebox(spawn_sagebox, client_factory, byo_image):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    s3 = client_factory("s3", server.url)
    rt = client_factory("sagemaker-runtime", server.url)
    bucket = unique("restart")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=_empty_tar_gz())
    name = deploy(sm, [variant(byo_model(sm, byo_image, "s3://%s/m/model.tar.gz" % bucket))])
    arn = wait_endpoint(sm, name)["EndpointArn"]
    before = containers_of(arn)
    server.kill()
    server.start()
    assert wait_endpoint(sm, name, until=("InService",))["EndpointStatus"] == "InService"
    deadline = time.time() + 30
    while True:
        try:
            invoke_json(rt, name)
            break
        except ClientError:
            assert time.time() < deadline
            time.sleep(0.3)
    assert containers_of(arn) == before  # re-adopted, not recreated
    sm.delete_endpoint(EndpointName=name)


def test_lines_a_container_printed_while_sagebox_was_down_are_stored_once(
    spawn_sagebox, client_factory, byo_image
):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    s3 = client_factory("s3", server.url)
    logs = client_factory("logs", server.url)
    bucket = unique("resume")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=_empty_tar_gz())
    name = deploy(sm, [variant(byo_model(sm, byo_image, "s3://%s/m/model.tar.gz" % bucket))])
    arn = wait_endpoint(sm, name)["EndpointArn"]
    (container,) = containers_of(arn)
    port = subprocess.run(["docker", "port", container, "8080/tcp"], capture_output=True, text=True,
                          check=True).stdout.split()[0].rsplit(":", 1)[1]
    group = "/aws/sagemaker/Endpoints/" + name
    stream = "AllTraffic/" + container[:12]

    def visit(path):
        """A request straight to the container: byo logs one line naming the path."""
        try:
            requests.get("http://127.0.0.1:%s/%s" % (port, path), timeout=10)
        except requests.RequestException as e:
            raise AssertionError(e)

    def stored():
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        return [e["message"] for e in events]

    def printed():
        out = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
        return out.stdout.splitlines()

    def settled(marker):
        """The stream once it holds `marker` and stopped growing for a moment."""
        deadline = time.time() + 60
        last = None
        while True:
            now = stored()
            if any(marker in line for line in now) and now == last:
                return now
            assert time.time() < deadline, now[-20:]
            last = now
            time.sleep(0.5)

    for i in range(5):
        visit("before-%d" % i)
    settled("/before-4 ")
    server.kill()
    for i in range(30):
        visit("while-down-%d" % i)
        time.sleep(0.1)
    time.sleep(1.5)  # Docker's `since` counts whole seconds: the gap must span some
    server.start()
    assert wait_endpoint(sm, name, until=("InService",))["EndpointStatus"] == "InService"
    for i in range(5):
        visit("after-%d" % i)
    lines = settled("/after-4 ")
    assert printed()[:len(lines)] == lines  # a ping may come after the stream was read
    for i in range(30):
        assert sum("/while-down-%d " % i in line for line in lines) == 1, lines
    sm.delete_endpoint(EndpointName=name)


def _empty_tar_gz():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz"):
        pass
    return buf.getvalue()


# ----- batch transform -----

def transform(sm, model, bucket, prefix, wait=True, **extra):
    name = unique("tj")
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                       "S3Uri": "s3://%s/%s/in" % (bucket, prefix)}},
                       "ContentType": "text/csv", **extra.pop("input", {})}
    sm.create_transform_job(
        TransformJobName=name, ModelName=model, TransformInput=transform_input,
        TransformOutput={"S3OutputPath": "s3://%s/%s/out" % (bucket, prefix), **extra.pop("output", {})},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": extra.pop("count", 1)}, **extra)
    if not wait:
        return name
    deadline = time.time() + 180
    while True:
        d = sm.describe_transform_job(TransformJobName=name)
        if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return d
        assert time.time() < deadline, d
        time.sleep(0.3)


def read(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_transform_lines_in_batches_with_join_and_filters(sm, s3, bucket, byo_image, model_data):
    model = byo_model(sm, byo_image, model_data)
    s3.put_object(Bucket=bucket, Key="tj1/in/a.csv", Body=b"1,2,3\n4,5,6\n7,8,9\n")
    s3.put_object(Bucket=bucket, Key="tj1/in/sub/b.csv", Body=b"10,20\n")
    d = transform(sm, model, bucket, "tj1", input={"SplitType": "Line"}, BatchStrategy="MultiRecord",
                  output={"AssembleWith": "Line", "Accept": "text/csv"}, count=2)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["BatchStrategy"] == "MultiRecord" and d["TransformStartTime"] <= d["TransformEndTime"]
    assert read(s3, bucket, "tj1/out/a.csv.out") == "6.0\n15.0\n24.0\n"
    assert read(s3, bucket, "tj1/out/sub/b.csv.out") == "30.0\n"

    # the input filter drops the first column; the join puts the input back; the output
    # filter keeps the first input column and the prediction
    d = transform(sm, model, bucket, "tj1", input={"SplitType": "Line"}, BatchStrategy="SingleRecord",
                  output={"AssembleWith": "Line"},
                  DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert read(s3, bucket, "tj1/out/a.csv.out") == "1,5.0\n4,11.0\n7,17.0\n"
    listed = sm.list_transform_jobs(NameContains=d["TransformJobName"])["TransformJobSummaries"]
    assert [j["TransformJobStatus"] for j in listed] == ["Completed"]


def test_transform_asks_the_container_for_its_execution_parameters(sm, s3, bucket, byo_image, model_data):
    params = {"BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1, "MaxConcurrentTransforms": 3}
    model = byo_model(sm, byo_image, model_data, BYO_EXECUTION_PARAMETERS=json.dumps(params))
    s3.put_object(Bucket=bucket, Key="tj4/in/a.csv", Body=b"".join(b"%d,1\n" % i for i in range(1000)))
    d = transform(sm, model, bucket, "tj4", input={"SplitType": "Line"}, output={"AssembleWith": "Line"})
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert (d["BatchStrategy"], d["MaxPayloadInMB"], d["MaxConcurrentTransforms"]) == ("MultiRecord", 1, 3)
    assert read(s3, bucket, "tj4/out/a.csv.out").splitlines() == [repr(float(i + 1)) for i in range(1000)]


def test_transform_failures_and_errors(sm, s3, bucket, byo_image, model_data):
    model = byo_model(sm, byo_image, model_data)
    s3.put_object(Bucket=bucket, Key="tj2/in/bad.csv", Body=b"1,x\n")
    d = transform(sm, model, bucket, "tj2", input={"SplitType": "Line"})
    assert d["TransformJobStatus"] == "Failed"
    assert "bad.csv" in d["FailureReason"]
    with pytest.raises(ClientError) as e:
        transform(sm, "no-such-model", bucket, "tj2")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.describe_transform_job(TransformJobName="no-such-job")
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_transform_job_can_be_stopped(sm, s3, bucket, byo_image, model_data):
    model = byo_model(sm, byo_image, model_data)
    s3.put_object(Bucket=bucket, Key="tj3/in/a.json", Body=b"{}")
    name = transform(sm, model, bucket, "tj3", wait=False, input={"ContentType": "application/json"})
    sm.stop_transform_job(TransformJobName=name)
    deadline = time.time() + 60
    while sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] not in ("Stopped", "Completed"):
        assert time.time() < deadline
        time.sleep(0.3)
    arn = sm.describe_transform_job(TransformJobName=name)["TransformJobArn"]
    assert containers_of(arn) == []


# ----- the SageMaker Python SDK -----

def test_sdk_transformer_wait_prints_each_container_line_once(sdk_session, logs, s3, bucket, byo_image,
                                                               model_data, sm, capsys):
    from sagemaker.transformer import Transformer

    model = byo_model(sm, byo_image, model_data)
    s3.put_object(Bucket=bucket, Key="tj5/in/a.csv", Body=b"1,2\n3,4\n")
    transformer = Transformer(model_name=model, instance_count=1, instance_type="ml.m5.large",
                              output_path="s3://%s/tj5/out" % bucket, assemble_with="Line",
                              sagemaker_session=sdk_session)
    transformer.transform("s3://%s/tj5/in" % bucket, content_type="text/csv", split_type="Line", wait=False)
    capsys.readouterr()
    transformer.wait(logs=True)
    printed = capsys.readouterr().out.splitlines()
    assert read(s3, bucket, "tj5/out/a.csv.out") == "3.0\n7.0\n"

    job = transformer.latest_transform_job.job_name
    group = "/aws/sagemaker/TransformJobs"
    streams = [s["logStreamName"] for s in
               logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job + "/")["logStreams"]]
    assert len(streams) == 1, streams  # the instance's container, nothing else
    lines = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=streams[0],
                                                       startFromHead=True)["events"]]
    assert any(line.startswith("byo serve: received") for line in lines), lines
    for line in set(lines):
        assert printed.count(line) == lines.count(line), (line, printed)
    # sagebox's own notes are in the stream named after the job, which the SDK does not page
    notes = [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=job,
                                                       startFromHead=True)["events"]]
    assert any(n.startswith("[sagebox] 1 input objects") for n in notes), notes
    assert not any(n in printed for n in notes)


def test_sdk_xgboost_deploy_predict_update_transform_delete(sdk_session, s3, bucket):
    from sagemaker import image_uris
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    train = sdk_session.upload_data(str(REPO / "fixtures" / "diabetes" / "train.csv"), bucket, "sdk-host/train")
    est = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", version="1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                    output_path="s3://%s/sdk-host/output" % bucket,
                    hyperparameters={"num_round": 20, "objective": "reg:squarederror", "max_depth": 3})
    est.fit({"train": TrainingInput(train, content_type="text/csv")}, logs=False)
    predictor = est.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                           serializer=CSVSerializer(), deserializer=CSVDeserializer())
    test_rows = [line.split(",")[1:] for line in
                 (REPO / "fixtures" / "diabetes" / "test.csv").read_text().splitlines()[:5]]
    # SageMaker's XGBoost (1.3-1 and later) answers a CSV request with one prediction per line
    answer = predictor.predict(test_rows)
    assert [len(row) for row in answer] == [1] * 5, answer
    preds = [float(row[0]) for row in answer]
    assert all(p > 0 for p in preds), preds
    arn = sdk_session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)["EndpointArn"]

    predictor.update_endpoint(initial_instance_count=2, instance_type="ml.m5.large")
    d = sdk_session.sagemaker_client.describe_endpoint(EndpointName=predictor.endpoint_name)
    assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    assert len(predictor.predict(test_rows)) == 5

    # batch transform over the same test rows, line by line
    body = "\n".join(",".join(r) for r in test_rows) + "\n"
    s3.put_object(Bucket=bucket, Key="sdk-host/batch/in/test.csv", Body=body.encode())
    transformer = est.transformer(instance_count=1, instance_type="ml.m5.large",
                                  output_path="s3://%s/sdk-host/batch/out" % bucket, assemble_with="Line")
    transformer.transform("s3://%s/sdk-host/batch/in" % bucket, content_type="text/csv", split_type="Line")
    transformer.wait(logs=False)
    out = read(s3, bucket, "sdk-host/batch/out/test.csv.out").splitlines()
    assert len(out) == 5
    for line, p in zip(out, preds):
        assert abs(float(line) - p) < 1e-3

    predictor.delete_endpoint()
    deadline = time.time() + 30
    while containers_of(arn):
        assert time.time() < deadline
        time.sleep(0.3)


def test_sdk_model_from_uploaded_artifact_with_json(sdk_session, s3, bucket):
    """A linear-learner model trained by the SDK, deployed again from its model.tar.gz alone."""
    import numpy as np
    from sagemaker import image_uris
    from sagemaker.amazon.common import write_numpy_to_dense_tensor
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.model import Model
    from sagemaker.serializers import CSVSerializer

    data = np.loadtxt(REPO / "fixtures" / "digits_zero" / "train.csv", delimiter=",", dtype="float32")
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, data[:, 1:], data[:, 0])
    s3.put_object(Bucket=bucket, Key="sdk-ll-host/train/recordio-pb-data", Body=buf.getvalue())
    image = image_uris.retrieve("linear-learner", "us-east-1")
    est = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.c4.xlarge",
                    sagemaker_session=sdk_session, output_path="s3://%s/sdk-ll-host/output" % bucket)
    est.set_hyperparameters(feature_dim=64, predictor_type="binary_classifier", mini_batch_size=100, epochs=5)
    est.fit({"train": "s3://%s/sdk-ll-host/train/" % bucket}, logs=False)

    model = Model(image_uri=image, model_data=est.model_data, role=ROLE, sagemaker_session=sdk_session)
    model.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    from sagemaker.predictor import Predictor
    predictor = Predictor(model.endpoint_name, sagemaker_session=sdk_session,
                          serializer=CSVSerializer(), deserializer=JSONDeserializer())
    test = np.loadtxt(REPO / "fixtures" / "digits_zero" / "test.csv", delimiter=",", dtype="float32")[:20]
    result = predictor.predict(test[:, 1:])
    labels = [p["predicted_label"] for p in result["predictions"]]
    assert len(labels) == 20
    assert sum(int(l == t) for l, t in zip(labels, test[:, 0])) >= 17, (labels, test[:, 0])
    predictor.delete_endpoint()


def test_a_describe_in_transition_answers_when_the_endpoint_is_in_service(sm, byo_image, model_data):
    # what the SDK's deploy() and boto3's endpoint_in_service waiter do: Create, then Describe at
    # once, then sleep 30 s between polls. Held, the first Describe is the answer they wait for.
    name = deploy(sm, [variant(byo_model(sm, byo_image, model_data))])
    try:
        assert listed_status(sm, name) == "Creating"
        d = sm.describe_endpoint(EndpointName=name)
        assert d["EndpointStatus"] == "InService", d
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"MaxAttempts": 1})
    finally:
        sm.delete_endpoint(EndpointName=name)


def test_describe_hold_0_answers_every_intermediate_status(spawn_sagebox, client_factory, byo_image):
    server = spawn_sagebox("--describe-hold", "0")
    sm, s3 = client_factory("sagemaker", server.url), client_factory("s3", server.url)
    s3.create_bucket(Bucket="hold")
    s3.put_object(Bucket="hold", Key="model.tar.gz", Body=model_tar_gz())
    name = deploy(sm, [variant(byo_model(sm, byo_image, "s3://hold/model.tar.gz"))])
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    assert wait_endpoint(sm, name)["EndpointStatus"] == "InService"
    sm.delete_endpoint(EndpointName=name)
