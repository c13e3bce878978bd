"""SageMaker endpoint configurations through boto3: Create/Describe/List/DeleteEndpointConfig."""

import datetime as dt
import time

import pytest
from botocore.exceptions import ClientError

from support import IMAGE, ROLE_ARN, endpoint_config_arn, model_arn, unique


def make_model(sm, name=None):
    name = name or unique("ecmodel")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    return name


def variant(model, name="AllTraffic", **extra):
    v = {
        "VariantName": name,
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    v.update(extra)
    return v


def create_config(sm, name, model=None, **extra):
    model = model or make_model(sm)
    return sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(model)], **extra)


def names(summaries):
    return [c["EndpointConfigName"] for c in summaries]


def test_create_endpoint_config_returns_lowercased_arn(sm):
    name = unique("Config-Upper")
    out = create_config(sm, name)
    assert out["EndpointConfigArn"] == endpoint_config_arn(name)


def test_describe_endpoint_config_returns_variants_as_given(sm):
    model_a, model_b = make_model(sm), make_model(sm)
    name = unique("twovariants")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            variant(model_a, "A", InitialVariantWeight=3.0),
            variant(model_b, "B", InitialVariantWeight=1.0, InitialInstanceCount=2, InstanceType="ml.c5.xlarge"),
        ],
    )
    d = sm.describe_endpoint_config(EndpointConfigName=name)
    assert d["EndpointConfigName"] == name
    assert d["EndpointConfigArn"] == endpoint_config_arn(name)
    assert isinstance(d["CreationTime"], dt.datetime)
    by_name = {v["VariantName"]: v for v in d["ProductionVariants"]}
    assert set(by_name) == {"A", "B"}
    assert by_name["A"]["ModelName"] == model_a
    assert by_name["A"]["InitialVariantWeight"] == 3.0
    assert by_name["B"]["ModelName"] == model_b
    assert by_name["B"]["InitialInstanceCount"] == 2
    assert by_name["B"]["InstanceType"] == "ml.c5.xlarge"


def test_variant_weight_defaults_to_one(sm):
    # ProductionVariant.InitialVariantWeight: "If unspecified, it defaults to 1.0."
    name = unique("weight")
    create_config(sm, name)
    (v,) = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert v["InitialVariantWeight"] == 1.0


def test_serverless_variant_round_trips(sm):
    model = make_model(sm)
    name = unique("serverless")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{
            "VariantName": "AllTraffic",
            "ModelName": model,
            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
        }],
    )
    (v,) = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert v["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in v


def test_data_capture_and_kms_settings_round_trip(sm):
    name = unique("capture")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": "s3://bucket/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    create_config(sm, name, DataCaptureConfig=capture, KmsKeyId="alias/my-key")
    d = sm.describe_endpoint_config(EndpointConfigName=name)
    assert d["KmsKeyId"] == "alias/my-key"
    assert d["DataCaptureConfig"]["DestinationS3Uri"] == "s3://bucket/capture"
    assert d["DataCaptureConfig"]["InitialSamplingPercentage"] == 50
    assert [o["CaptureMode"] for o in d["DataCaptureConfig"]["CaptureOptions"]] == ["Input", "Output"]


def test_create_endpoint_config_twice_is_rejected(sm):
    name = unique("dupcfg")
    model = make_model(sm)
    create_config(sm, name, model)
    with pytest.raises(ClientError) as e:
        create_config(sm, name, model)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith(
        f'Cannot create already existing endpoint configuration "{endpoint_config_arn(name)}'
    ), err


def test_endpoint_config_naming_a_missing_model_is_rejected(sm):
    missing = unique("nomodel")
    name = unique("orphan")
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant(missing)])
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == f'Could not find model "{model_arn(missing)}".', err
    # and nothing was created
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=name)


def test_describe_missing_endpoint_config_names_its_arn(sm):
    name = unique("NoSuchConfig")
    with pytest.raises(ClientError) as e:
        sm.describe_endpoint_config(EndpointConfigName=name)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == f'Could not find endpoint configuration "{endpoint_config_arn(name)}".'


def test_delete_endpoint_config_removes_it(sm):
    name = unique("delcfg")
    create_config(sm, name)
    sm.delete_endpoint_config(EndpointConfigName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_endpoint_config(EndpointConfigName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert names(sm.list_endpoint_configs(NameContains=name)["EndpointConfigs"]) == []


def test_delete_missing_endpoint_config_names_its_arn(sm):
    name = unique("nevercfg")
    with pytest.raises(ClientError) as e:
        sm.delete_endpoint_config(EndpointConfigName=name)
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == f'Could not find endpoint configuration "{endpoint_config_arn(name)}".'


def test_deleting_the_model_leaves_the_endpoint_config(sm):
    model = make_model(sm)
    name = unique("survivor")
    create_config(sm, name, model)
    sm.delete_model(ModelName=model)
    (v,) = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"]
    assert v["ModelName"] == model


def test_list_endpoint_configs_summary_fields(sm):
    name = unique("cfgsummary")
    create_config(sm, name)
    (s,) = sm.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
    assert s["EndpointConfigName"] == name
    assert s["EndpointConfigArn"] == endpoint_config_arn(name)
    assert isinstance(s["CreationTime"], dt.datetime)


def test_list_endpoint_configs_defaults_to_newest_first(sm):
    tag = unique("cfgorder")
    model = make_model(sm)
    created = []
    for i in range(3):
        created.append(f"{tag}-{i}")
        create_config(sm, created[-1], model)
        time.sleep(0.05)
    assert names(sm.list_endpoint_configs(NameContains=tag)["EndpointConfigs"]) == list(reversed(created))


def test_list_endpoint_configs_sorts_by_name(sm):
    tag = unique("cfgname")
    model = make_model(sm)
    for s in ["b", "a", "c"]:
        create_config(sm, f"{tag}-{s}", model)
    asc = sm.list_endpoint_configs(NameContains=tag, SortBy="Name", SortOrder="Ascending")["EndpointConfigs"]
    desc = sm.list_endpoint_configs(NameContains=tag, SortBy="Name", SortOrder="Descending")["EndpointConfigs"]
    assert names(asc) == [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
    assert names(desc) == [f"{tag}-c", f"{tag}-b", f"{tag}-a"]


def test_list_endpoint_configs_name_contains_ignores_case(sm):
    tag = unique("cfgcase").lower()
    create_config(sm, f"A-{tag}-Z")
    found = names(sm.list_endpoint_configs(NameContains=tag.upper())["EndpointConfigs"])
    assert found == [f"A-{tag}-Z"]


def test_list_endpoint_configs_paginator_walks_all_pages(sm):
    tag = unique("cfgpages")
    model = make_model(sm)
    created = [f"{tag}-{i}" for i in range(5)]
    for n in created:
        create_config(sm, n, model)
    pages = list(
        sm.get_paginator("list_endpoint_configs").paginate(
            NameContains=tag, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
        )
    )
    assert [names(p["EndpointConfigs"]) for p in pages] == [created[0:2], created[2:4], created[4:5]]


def test_list_endpoint_configs_filters_by_creation_time(sm):
    tag = unique("cfgwin")
    model = make_model(sm)
    create_config(sm, f"{tag}-old", model)
    time.sleep(1.1)
    cut = dt.datetime.now(dt.timezone.utc)
    time.sleep(1.1)
    create_config(sm, f"{tag}-new", model)
    after = sm.list_endpoint_configs(NameContains=tag, CreationTimeAfter=cut)["EndpointConfigs"]
    before = sm.list_endpoint_configs(NameContains=tag, CreationTimeBefore=cut)["EndpointConfigs"]
    assert names(after) == [f"{tag}-new"]
    assert names(before) == [f"{tag}-old"]
