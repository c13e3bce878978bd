"""SageMaker models through boto3: CreateModel, DescribeModel, ListModels, DeleteModel.

Behaviour follows the SageMaker API reference (botocore model sagemaker/2017-07-24): ListModels
defaults to SortBy=CreationTime, SortOrder=Descending; CreationTimeAfter is ">=", CreationTimeBefore
is "created before".
"""

import datetime as dt
import time

import pytest
from botocore.exceptions import ClientError

from support import IMAGE, ROLE_ARN, model_arn, unique


def create_model(sm, name, **extra):
    args = dict(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "Environment": {"SAGEMAKER_PROGRAM": "serve.py"}},
    )
    args.update(extra)
    return sm.create_model(**args)


def names(summaries):
    return [m["ModelName"] for m in summaries]


def list_all_models(sm, **kw):
    out = []
    for page in sm.get_paginator("list_models").paginate(**kw):
        out.extend(page["Models"])
    return out


# --- create / describe -------------------------------------------------------------------------


def test_create_model_returns_lowercased_arn(sm):
    name = unique("Churn-Model")
    out = create_model(sm, name)
    assert out["ModelArn"] == model_arn(name)
    assert out["ModelArn"].endswith("/" + name.lower())


def test_describe_model_returns_what_create_stored(sm):
    name = unique("describe")
    container = {
        "Image": IMAGE,
        "ModelDataUrl": "s3://bucket/models/model.tar.gz",
        "Environment": {"A": "1", "B": "two"},
    }
    create_model(sm, name, PrimaryContainer=container)
    d = sm.describe_model(ModelName=name)
    assert d["ModelName"] == name
    assert d["ModelArn"] == model_arn(name)
    assert d["ExecutionRoleArn"] == ROLE_ARN
    assert d["PrimaryContainer"]["Image"] == IMAGE
    assert d["PrimaryContainer"]["ModelDataUrl"] == container["ModelDataUrl"]
    assert d["PrimaryContainer"]["Environment"] == container["Environment"]


def test_describe_model_creation_time_is_now(sm):
    name = unique("ctime")
    before = dt.datetime.now(dt.timezone.utc)
    create_model(sm, name)
    after = dt.datetime.now(dt.timezone.utc)
    created = sm.describe_model(ModelName=name)["CreationTime"]
    assert isinstance(created, dt.datetime)
    # the server and the test share a clock; allow a second of rounding either way
    assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1), (before, created, after)


def test_describe_model_keeps_the_name_case_but_arn_is_lowercase(sm):
    name = unique("MixedCASE")
    create_model(sm, name)
    d = sm.describe_model(ModelName=name)
    assert d["ModelName"] == name
    assert d["ModelArn"] == model_arn(name)


def test_model_with_inference_pipeline_containers_round_trips(sm):
    name = unique("pipeline")
    containers = [
        {"Image": IMAGE, "ContainerHostname": "pre", "Environment": {"STEP": "1"}},
        {"Image": IMAGE, "ContainerHostname": "main", "Environment": {"STEP": "2"}},
    ]
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE_ARN,
        Containers=containers,
        InferenceExecutionConfig={"Mode": "Serial"},
    )
    d = sm.describe_model(ModelName=name)
    assert [c["ContainerHostname"] for c in d["Containers"]] == ["pre", "main"]
    assert [c["Environment"]["STEP"] for c in d["Containers"]] == ["1", "2"]
    assert d["InferenceExecutionConfig"] == {"Mode": "Serial"}


def test_model_network_isolation_and_vpc_config_round_trip(sm):
    name = unique("vpc")
    vpc = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]}
    create_model(sm, name, EnableNetworkIsolation=True, VpcConfig=vpc)
    d = sm.describe_model(ModelName=name)
    assert d["EnableNetworkIsolation"] is True
    assert d["VpcConfig"] == vpc


def test_create_model_twice_is_rejected(sm):
    name = unique("dup")
    create_model(sm, name)
    with pytest.raises(ClientError) as e:
        create_model(sm, name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"].startswith(
        f'Cannot create already existing model "{model_arn(name)}'
    ), e.value.response["Error"]


def test_model_names_differing_only_in_case_collide(sm):
    # the ARN is the identity and it is lowercased, so "Abc" and "abc" are the same model
    name = unique("CaseClash")
    create_model(sm, name)
    with pytest.raises(ClientError) as e:
        create_model(sm, name.lower())
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot create already existing model" in e.value.response["Error"]["Message"]


# --- delete ----------------------------------------------------------------------------------


def test_delete_model_makes_describe_fail(sm):
    name = unique("gone")
    create_model(sm, name)
    sm.delete_model(ModelName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == f'Could not find model "{model_arn(name)}".'


def test_deleted_model_disappears_from_list(sm):
    tag = unique("lstdel")
    keep, drop = f"{tag}-keep", f"{tag}-drop"
    create_model(sm, keep)
    create_model(sm, drop)
    sm.delete_model(ModelName=drop)
    assert names(list_all_models(sm, NameContains=tag)) == [keep]


def test_deleted_model_name_can_be_reused(sm):
    name = unique("reuse")
    create_model(sm, name, PrimaryContainer={"Image": IMAGE, "Environment": {"GEN": "1"}})
    sm.delete_model(ModelName=name)
    create_model(sm, name, PrimaryContainer={"Image": IMAGE, "Environment": {"GEN": "2"}})
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Environment"] == {"GEN": "2"}


def test_delete_missing_model_names_its_arn(sm):
    name = unique("never")
    with pytest.raises(ClientError) as e:
        sm.delete_model(ModelName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == f'Could not find model "{model_arn(name)}".'


# --- list: filters, sorting, pagination -------------------------------------------------------


def test_list_models_summary_has_name_arn_and_creation_time(sm):
    name = unique("summary")
    create_model(sm, name)
    (summary,) = sm.list_models(NameContains=name)["Models"]
    assert summary["ModelName"] == name
    assert summary["ModelArn"] == model_arn(name)
    assert isinstance(summary["CreationTime"], dt.datetime)


def test_list_models_defaults_to_newest_first(sm):
    tag = unique("order")
    created = []
    for i in range(3):
        created.append(f"{tag}-{i}")
        create_model(sm, created[-1])
        time.sleep(0.05)
    assert names(sm.list_models(NameContains=tag)["Models"]) == list(reversed(created))


def test_list_models_sorts_by_creation_time_ascending(sm):
    tag = unique("asc")
    created = []
    for suffix in ["c", "a", "b"]:
        created.append(f"{tag}-{suffix}")
        create_model(sm, created[-1])
        time.sleep(0.05)
    out = sm.list_models(NameContains=tag, SortBy="CreationTime", SortOrder="Ascending")
    assert names(out["Models"]) == created


def test_list_models_sorts_by_name_both_ways(sm):
    tag = unique("byname")
    for suffix in ["b", "c", "a"]:
        create_model(sm, f"{tag}-{suffix}")
    asc = sm.list_models(NameContains=tag, SortBy="Name", SortOrder="Ascending")["Models"]
    desc = sm.list_models(NameContains=tag, SortBy="Name", SortOrder="Descending")["Models"]
    assert names(asc) == [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
    assert names(desc) == [f"{tag}-c", f"{tag}-b", f"{tag}-a"]


def test_list_models_name_contains_is_a_case_insensitive_substring(sm):
    tag = unique("needle").lower()
    create_model(sm, f"pre-{tag}-post")
    create_model(sm, f"x{tag.upper()}y")
    create_model(sm, unique("haystack"))
    found = names(sm.list_models(NameContains=tag.upper())["Models"])
    assert sorted(found) == sorted([f"pre-{tag}-post", f"x{tag.upper()}y"])


def test_list_models_name_contains_with_no_match_is_empty(sm):
    out = sm.list_models(NameContains=unique("nothing-like-this"))
    assert out["Models"] == []
    assert "NextToken" not in out


def test_list_models_paginates_with_max_results(sm):
    tag = unique("page")
    created = [f"{tag}-{i}" for i in range(5)]
    for n in created:
        create_model(sm, n)
    first = sm.list_models(NameContains=tag, MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert names(first["Models"]) == created[:2]
    assert first.get("NextToken")
    second = sm.list_models(
        NameContains=tag, MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert names(second["Models"]) == created[2:4]
    third = sm.list_models(
        NameContains=tag, MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=second["NextToken"]
    )
    assert names(third["Models"]) == created[4:]
    assert "NextToken" not in third


def test_list_models_paginator_yields_every_model_once(sm):
    tag = unique("paginator")
    created = {f"{tag}-{i:02d}" for i in range(7)}
    for n in created:
        create_model(sm, n)
    pages = list(sm.get_paginator("list_models").paginate(NameContains=tag, PaginationConfig={"PageSize": 3}))
    assert [len(p["Models"]) for p in pages] == [3, 3, 1]
    seen = [m["ModelName"] for p in pages for m in p["Models"]]
    assert sorted(seen) == sorted(created)


def test_list_models_paginator_build_full_result_respects_max_items(sm):
    tag = unique("maxitems")
    for i in range(4):
        create_model(sm, f"{tag}-{i}")
    result = (
        sm.get_paginator("list_models")
        .paginate(NameContains=tag, SortBy="Name", SortOrder="Ascending", PaginationConfig={"MaxItems": 3, "PageSize": 2})
        .build_full_result()
    )
    assert names(result["Models"]) == [f"{tag}-0", f"{tag}-1", f"{tag}-2"]
    assert result.get("NextToken")


def test_list_models_filters_by_creation_time(sm):
    tag = unique("window")
    create_model(sm, f"{tag}-old")
    time.sleep(1.1)
    cut = dt.datetime.now(dt.timezone.utc)
    time.sleep(1.1)
    create_model(sm, f"{tag}-new")
    after = sm.list_models(NameContains=tag, CreationTimeAfter=cut)["Models"]
    before = sm.list_models(NameContains=tag, CreationTimeBefore=cut)["Models"]
    assert names(after) == [f"{tag}-new"]
    assert names(before) == [f"{tag}-old"]
    both = sm.list_models(
        NameContains=tag,
        CreationTimeAfter=cut - dt.timedelta(seconds=30),
        CreationTimeBefore=cut + dt.timedelta(seconds=30),
    )["Models"]
    assert sorted(names(both)) == [f"{tag}-new", f"{tag}-old"]
