"""Inference components with real containers: an endpoint whose variants name no model hosts
capacity, and each component on it runs its own copies. Driven by the SageMaker SDK's own
INFERENCE_COMPONENT_BASED deploy (the XGBoost image, a model packed in the test) and by boto3
(the byo image, which records what it receives): routing by InferenceComponentName, the errors
SageMaker answers, scaling copies, updates, deletion, listing, and a component that fails its
health check."""

import base64
import json
import os
import subprocess
import time

import pytest
import requests
from botocore.exceptions import ClientError

from support import REPO, docker_answers, model_tar_gz, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

COMPONENT_REQUIRED = (
    "Inference Component Name header is required for endpoints to which you plan to deploy "
    "inference components. Please include Inference Component Name header or consider using "
    "SageMaker models.")


@pytest.fixture(scope="module")
def rt(sagebox, client_factory):
    return client_factory("sagemaker-runtime", sagebox.url, read_timeout=90)


@pytest.fixture(scope="module")
def model_data(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ic/model.tar.gz", Body=model_tar_gz())
    return "s3://%s/ic/model.tar.gz" % bucket


def capacity_endpoint(sm, count=1):
    """An endpoint that only hosts capacity for inference components."""
    config = unique("ic-config")
    sm.create_endpoint_config(EndpointConfigName=config, ExecutionRoleArn=ROLE, ProductionVariants=[
        {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": count,
         "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}])
    name = unique("ic-ep")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    d = wait_for(lambda: sm.describe_endpoint(EndpointName=name), "EndpointStatus")
    assert d["EndpointStatus"] == "InService", d.get("FailureReason")
    return name


def wait_for(describe, member, timeout=180, until=("InService", "Failed")):
    deadline = time.time() + timeout
    while True:
        d = describe()
        if d[member] in until:
            return d
        assert time.time() < deadline, d
        time.sleep(0.2)


def wait_component(sm, name, **kw):
    return wait_for(lambda: sm.describe_inference_component(InferenceComponentName=name),
                    "InferenceComponentStatus", **kw)


def byo_container(image, model_data, tag, **env):
    return {"Image": image, "ArtifactUrl": model_data, "Environment": {"BYO_TAG": tag, **env}}


def create_component(sm, endpoint, spec, copies=1, name=None, **extra):
    name = name or unique("ic")
    spec = {"ComputeResourceRequirements": {"MinMemoryRequiredInMb": 256, "NumberOfCpuCoresRequired": 1},
            **spec}
    sm.create_inference_component(InferenceComponentName=name, EndpointName=endpoint,
                                  VariantName="AllTraffic", Specification=spec,
                                  RuntimeConfig={"CopyCount": copies}, **extra)
    return name


def containers_of(arn):
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=sagebox.resource-arn=" + arn],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def label(container, key):
    return subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "%s"}}' % key, container],
                          capture_output=True, text=True, check=True).stdout.strip()


def invoke(rt, endpoint, component=None, body=b"{}", **extra):
    if component:
        extra["InferenceComponentName"] = component
    r = rt.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="application/json", **extra)
    return r, json.loads(r["Body"].read())


def gone(sm, name, timeout=60):
    deadline = time.time() + timeout
    while True:
        try:
            sm.describe_inference_component(InferenceComponentName=name)
        except ClientError as e:
            return e
        assert time.time() < deadline
        time.sleep(0.2)


@pytest.fixture(scope="module")
def two_components(sm, byo_image, model_data):
    """One capacity endpoint with two components: one from a Container spec (tag "a"), one
    from a model (tag "b")."""
    endpoint = capacity_endpoint(sm)
    a = create_component(sm, endpoint, {"Container": byo_container(byo_image, model_data, "a")})
    model = unique("ic-model")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": byo_image, "ModelDataUrl": model_data, "Environment": {"BYO_TAG": "b"}})
    b = create_component(sm, endpoint, {"ModelName": model})
    for name in (a, b):
        d = wait_component(sm, name)
        assert d["InferenceComponentStatus"] == "InService", d.get("FailureReason")
    yield endpoint, a, b
    for name in (a, b):
        sm.delete_inference_component(InferenceComponentName=name)
    for name in (a, b):
        gone(sm, name)
    sm.delete_endpoint(EndpointName=endpoint)


def test_an_endpoint_for_components_runs_no_container_of_its_own(sm, two_components):
    endpoint, _, _ = two_components
    d = sm.describe_endpoint(EndpointName=endpoint)
    (v,) = d["ProductionVariants"]
    assert v["VariantName"] == "AllTraffic" and v["CurrentInstanceCount"] == 1
    assert containers_of(d["EndpointArn"]) == []


def test_components_are_described_with_their_copies(sm, two_components, byo_image, model_data):
    endpoint, a, b = two_components
    d = sm.describe_inference_component(InferenceComponentName=a)
    assert d["InferenceComponentArn"] == "arn:aws:sagemaker:us-east-1:000000000000:inference-component/" + a
    assert d["EndpointName"] == endpoint and d["VariantName"] == "AllTraffic"
    assert d["EndpointArn"] == sm.describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    container = d["Specification"]["Container"]
    assert container["DeployedImage"]["SpecifiedImage"] == byo_image
    assert container["ArtifactUrl"] == model_data and container["Environment"] == {"BYO_TAG": "a"}
    assert d["Specification"]["ComputeResourceRequirements"]["MinMemoryRequiredInMb"] == 256
    (copy,) = containers_of(d["InferenceComponentArn"])
    assert label(copy, "sagebox.instance") == "0"
    assert sm.describe_inference_component(InferenceComponentName=b)["Specification"]["ModelName"]


def test_the_header_routes_to_each_component(rt, two_components):
    endpoint, a, b = two_components
    for _ in range(3):
        assert invoke(rt, endpoint, a)[1]["tag"] == "a"
        assert invoke(rt, endpoint, b)[1]["tag"] == "b"
    r, body = invoke(rt, endpoint, a, b'{"x": 1}', Accept="application/json", CustomAttributes="t=1")
    assert r["InvokedProductionVariant"] == "AllTraffic" and r["CustomAttributes"] == "echo=t=1"
    assert body["model_files"] == ["model.json"]
    # the container gets what a model endpoint's container gets: the component header routes only
    got = sorted((k.lower(), v) for k, v in body["headers"] if k.lower() != "host")
    assert got == [("accept", "application/json"), ("content-length", "8"),
                   ("content-type", "application/json"), ("x-amzn-sagemaker-custom-attributes", "t=1")]
    # the streaming API routes the same way
    r = rt.invoke_endpoint_with_response_stream(EndpointName=endpoint, InferenceComponentName=b,
                                                Body=b"{}", ContentType="application/json")
    payload = b"".join(e["PayloadPart"]["Bytes"] for e in r["Body"] if "PayloadPart" in e)
    assert json.loads(payload)["tag"] == "b"


def test_a_call_without_a_known_component_is_a_validation_error(rt, two_components, sagebox):
    endpoint, _, _ = two_components
    with pytest.raises(ClientError) as e:
        invoke(rt, endpoint)
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"] == COMPONENT_REQUIRED
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        invoke(rt, endpoint, "no-such-component")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "no-such-component" in e.value.response["Error"]["Message"]
    # answered before the body is read: the connection is not kept for another request
    r = requests.post("%s/endpoints/%s/invocations" % (sagebox.url, endpoint), data=b"{}",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and COMPONENT_REQUIRED in r.text
    assert r.headers["Connection"].lower() == "close"


def test_scaling_copies_up_and_down(sm, rt, two_components):
    endpoint, a, _ = two_components
    arn = sm.describe_inference_component(InferenceComponentName=a)["InferenceComponentArn"]
    sm.update_inference_component_runtime_config(InferenceComponentName=a,
                                                 DesiredRuntimeConfig={"CopyCount": 2})
    d = wait_component(sm, a)
    assert d["InferenceComponentStatus"] == "InService", d.get("FailureReason")
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    copies = containers_of(arn)
    assert sorted(label(c, "sagebox.instance") for c in copies) == ["0", "1"]
    assert {label(c, "sagebox.group") for c in copies} == {"AllTraffic"}
    hosts = {invoke(rt, endpoint, a)[1]["host"] for _ in range(6)}
    assert len(hosts) == 2, hosts
    sm.update_inference_component_runtime_config(InferenceComponentName=a,
                                                 DesiredRuntimeConfig={"CopyCount": 1})
    d = wait_component(sm, a)
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 1, "CurrentCopyCount": 1}
    deadline = time.time() + 90
    while len(containers_of(arn)) != 1:
        assert time.time() < deadline
        time.sleep(0.3)
    assert invoke(rt, endpoint, a)[1]["tag"] == "a"


def test_update_to_a_new_specification_answers_the_new_way(sm, rt, byo_image, model_data):
    endpoint = capacity_endpoint(sm)
    name = create_component(sm, endpoint, {"Container": byo_container(byo_image, model_data, "old")})
    assert wait_component(sm, name)["InferenceComponentStatus"] == "InService"
    arn = sm.describe_inference_component(InferenceComponentName=name)["InferenceComponentArn"]
    (old,) = containers_of(arn)
    assert invoke(rt, endpoint, name)[1]["tag"] == "old"
    sm.update_inference_component(InferenceComponentName=name, Specification={
        "Container": byo_container(byo_image, model_data, "new")})
    d = wait_component(sm, name)
    assert d["InferenceComponentStatus"] == "InService", d.get("FailureReason")
    assert d["Specification"]["Container"]["Environment"] == {"BYO_TAG": "new"}
    assert invoke(rt, endpoint, name)[1]["tag"] == "new"
    deadline = time.time() + 90
    while old in containers_of(arn):
        assert time.time() < deadline
        time.sleep(0.3)
    assert len(containers_of(arn)) == 1

    # the endpoint cannot go while the component is on it
    with pytest.raises(ClientError) as e:
        sm.delete_endpoint(EndpointName=endpoint)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert name in e.value.response["Error"]["Message"]
    # nor move to a configuration whose variants run a model of their own
    model = unique("m")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": byo_image})
    config = unique("c")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    with pytest.raises(ClientError) as e:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert name in e.value.response["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"

    sm.delete_inference_component(InferenceComponentName=name)
    err = gone(sm, name)
    assert err.response["Error"]["Code"] == "ValidationException"
    assert "Could not find inference component" in err.response["Error"]["Message"]
    deadline = time.time() + 90
    while containers_of(arn):
        assert time.time() < deadline
        time.sleep(0.3)
    with pytest.raises(ClientError):
        invoke(rt, endpoint, name)
    sm.delete_endpoint(EndpointName=endpoint)


def test_a_component_failing_its_health_check_fails_with_a_reason(sm, byo_image, model_data):
    endpoint = capacity_endpoint(sm)
    name = create_component(sm, endpoint, {
        "Container": byo_container(byo_image, model_data, "bad", BYO_FAIL_TO_LOAD="weights are corrupt"),
        "StartupParameters": {"ContainerStartupHealthCheckTimeoutInSeconds": 60}})
    d = wait_component(sm, name)
    assert d["InferenceComponentStatus"] == "Failed"
    assert "did not pass the ping health check" in d["FailureReason"]
    assert "weights are corrupt" in d["FailureReason"]
    assert "inference component " + name in d["FailureReason"]
    assert containers_of(d["InferenceComponentArn"]) == []
    sm.delete_inference_component(InferenceComponentName=name)
    gone(sm, name)
    sm.delete_endpoint(EndpointName=endpoint)


def test_list_filters_sorts_and_pages(sm, two_components):
    endpoint, a, b = two_components
    listed = sm.list_inference_components(EndpointNameEquals=endpoint)["InferenceComponents"]
    assert sorted(c["InferenceComponentName"] for c in listed) == sorted([a, b])
    assert all(c["EndpointName"] == endpoint and c["VariantName"] == "AllTraffic" for c in listed)
    by_name = sm.list_inference_components(EndpointNameEquals=endpoint, SortBy="Name",
                                           SortOrder="Descending")["InferenceComponents"]
    assert [c["InferenceComponentName"] for c in by_name] == sorted([a, b], reverse=True)
    page = sm.list_inference_components(EndpointNameEquals=endpoint, MaxResults=1, SortBy="CreationTime",
                                        SortOrder="Ascending")
    assert [c["InferenceComponentName"] for c in page["InferenceComponents"]] == [a]
    rest = sm.list_inference_components(EndpointNameEquals=endpoint, MaxResults=1, SortBy="CreationTime",
                                        SortOrder="Ascending", NextToken=page["NextToken"])
    assert [c["InferenceComponentName"] for c in rest["InferenceComponents"]] == [b]
    assert sm.list_inference_components(NameContains=a)["InferenceComponents"][0]["InferenceComponentName"] == a
    assert sm.list_inference_components(EndpointNameEquals=endpoint,
                                        StatusEquals="Failed")["InferenceComponents"] == []
    assert sm.list_inference_components(EndpointNameEquals=endpoint, VariantNameEquals="other")[
        "InferenceComponents"] == []
    assert sm.list_inference_components(EndpointNameEquals=endpoint,
                                        CreationTimeAfter=time.time() + 3600)["InferenceComponents"] == []


def test_tags_on_the_component_arn(sm, two_components):
    _, a, _ = two_components
    arn = sm.describe_inference_component(InferenceComponentName=a)["InferenceComponentArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert {"Key": "team", "Value": "ml"} in sm.list_tags(ResourceArn=arn)["Tags"]


def test_what_sagemaker_refuses(sm, byo_image, model_data, two_components):
    endpoint, a, _ = two_components
    # a configuration for components needs its execution role, and no variant may name a model
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName=unique("c"), ProductionVariants=[
            {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "ExecutionRoleArn" in e.value.response["Error"]["Message"]
    spec = {"Container": byo_container(byo_image, model_data, "x")}
    with pytest.raises(ClientError) as e:
        create_component(sm, "no-such-endpoint", spec)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert 'Could not find endpoint "no-such-endpoint"' in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        create_component(sm, endpoint, {"ModelName": "no-such-model"})
    assert 'Could not find model "no-such-model"' in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_inference_component(InferenceComponentName=unique("ic"), EndpointName=endpoint,
                                      VariantName="Other", Specification=spec, RuntimeConfig={"CopyCount": 1})
    assert 'Could not find variant "Other"' in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        create_component(sm, endpoint, spec, name=a)
    assert "already exists" in e.value.response["Error"]["Message"]
    # an endpoint whose variant runs a model hosts no components
    model = unique("m")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": byo_image})
    config = unique("c")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    ep = unique("ep")
    sm.create_endpoint(EndpointName=ep, EndpointConfigName=config)
    with pytest.raises(ClientError) as e:
        create_component(sm, ep, spec)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    wait_for(lambda: sm.describe_endpoint(EndpointName=ep), "EndpointStatus")
    with pytest.raises(ClientError) as e:
        create_component(sm, ep, spec)
    assert "do not specify ModelName" in e.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName=ep)
    sm.delete_model(ModelName=model)
    with pytest.raises(ClientError) as e:
        sm.describe_inference_component(InferenceComponentName="no-such-component")
    assert e.value.response["Error"]["Code"] == "ValidationException"


TRAIN_AND_PREDICT = r"""
import base64, io, json, sys
import numpy as np, xgboost as xgb
train = np.loadtxt(io.StringIO(sys.stdin.read().split("\n---\n")[0]), delimiter=",")
booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(train[:, 1:], label=train[:, 0]), 10)
booster.save_model("/tmp/xgboost-model")
rows = train[:5, 1:]
print(json.dumps({"model": base64.b64encode(open("/tmp/xgboost-model", "rb").read()).decode(),
                  "rows": rows.tolist(), "predictions": booster.predict(xgb.DMatrix(rows)).tolist()}))
"""


def test_sdk_deploys_a_model_as_an_inference_component(sdk_session, s3, bucket):
    from sagemaker import image_uris
    from sagemaker.compute_resource_requirements.resource_requirements import ResourceRequirements
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.enums import EndpointType
    from sagemaker.model import Model
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    image = image_uris.retrieve("xgboost", "us-east-1", version="1.7-1")
    # the model is trained and its expected predictions made by the XGBoost image itself
    train = (REPO / "fixtures" / "diabetes" / "train.csv").read_text()
    out = subprocess.run(["docker", "run", "--rm", "-i", "--entrypoint", "python3", "sagebox/xgboost:latest",
                          "-c", TRAIN_AND_PREDICT], input=train, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    packed = json.loads(out.stdout.strip().splitlines()[-1])
    s3.put_object(Bucket=bucket, Key="ic-sdk/model.tar.gz",
                  Body=model_tar_gz({"xgboost-model": base64.b64decode(packed["model"])}))

    name = unique("ic-sdk")
    model = Model(image_uri=image, model_data="s3://%s/ic-sdk/model.tar.gz" % bucket, role=ROLE,
                  sagemaker_session=sdk_session, name=name, predictor_cls=Predictor)
    predictor = model.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                             endpoint_type=EndpointType.INFERENCE_COMPONENT_BASED,
                             resources=ResourceRequirements(requests={"num_cpus": 1, "memory": 512, "copies": 1}),
                             endpoint_name=name, serializer=CSVSerializer(), deserializer=CSVDeserializer())
    assert predictor.component_name
    sm = sdk_session.sagemaker_client
    d = sm.describe_inference_component(InferenceComponentName=predictor.component_name)
    assert d["InferenceComponentStatus"] == "InService" and d["EndpointName"] == name
    assert d["Specification"]["ComputeResourceRequirements"] == {"MinMemoryRequiredInMb": 512,
                                                                  "NumberOfCpuCoresRequired": 1}
    answer = predictor.predict(packed["rows"])
    got = [float(row[0]) for row in answer]
    assert len(got) == 5
    for g, want in zip(got, packed["predictions"]):
        assert abs(g - want) < 1e-4, (got, packed["predictions"])
    arn = d["InferenceComponentArn"]
    predictor.delete_predictor(wait=True)
    assert containers_of(arn) == []
    sm.delete_endpoint(EndpointName=name)


def test_components_survive_a_restart_of_sagebox(spawn_sagebox, client_factory, byo_image):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    s3 = client_factory("s3", server.url)
    rt = client_factory("sagemaker-runtime", server.url)
    bucket = unique("ic-restart")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=model_tar_gz())
    data = "s3://%s/m/model.tar.gz" % bucket
    endpoint = capacity_endpoint(sm)
    kept = create_component(sm, endpoint, {"Container": byo_container(byo_image, data, "kept")}, copies=2)
    lost = create_component(sm, endpoint, {"Container": byo_container(byo_image, data, "lost")})
    arns = {}
    for name in (kept, lost):
        d = wait_component(sm, name)
        assert d["InferenceComponentStatus"] == "InService", d.get("FailureReason")
        arns[name] = d["InferenceComponentArn"]
    before = sorted(containers_of(arns[kept]))
    server.kill()
    # one component's container goes while sagebox is down: it is started again
    subprocess.run(["docker", "rm", "-f", *containers_of(arns[lost])], capture_output=True, check=True)
    server.start()
    for name, tag in ((kept, "kept"), (lost, "lost")):
        # until its copies are back, a component shows its last status and fewer current copies
        deadline = time.time() + 60
        while True:
            d = sm.describe_inference_component(InferenceComponentName=name)
            if d["RuntimeConfig"]["CurrentCopyCount"] == d["RuntimeConfig"]["DesiredCopyCount"]:
                break
            assert time.time() < deadline, d
            time.sleep(0.3)
        assert d["InferenceComponentStatus"] == "InService"
        assert invoke(rt, endpoint, name)[1]["tag"] == tag
    assert sorted(containers_of(arns[kept])) == before  # re-adopted, not recreated
    assert len(containers_of(arns[lost])) == 1
    for name in (kept, lost):
        sm.delete_inference_component(InferenceComponentName=name)
        gone(sm, name)
    sm.delete_endpoint(EndpointName=endpoint)
