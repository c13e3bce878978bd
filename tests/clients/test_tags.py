"""SageMaker AddTags / ListTags / DeleteTags on model and endpoint-config ARNs."""

import pytest

from support import IMAGE, ROLE_ARN, unique


def as_dict(tags):
    return {t["Key"]: t["Value"] for t in tags}


def new_model(sm, tags=None):
    name = unique("tagged")
    args = dict(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    if tags is not None:
        args["Tags"] = tags
    return name, sm.create_model(**args)["ModelArn"]


def new_endpoint_config(sm, tags=None):
    model, _ = new_model(sm)
    name = unique("taggedcfg")
    args = dict(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "v", "ModelName": model, "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
    )
    if tags is not None:
        args["Tags"] = tags
    return name, sm.create_endpoint_config(**args)["EndpointConfigArn"]


@pytest.fixture(params=["model", "endpoint-config"])
def resource_factory(request, sm):
    """Each tag test runs against both resource kinds."""
    return {"model": new_model, "endpoint-config": new_endpoint_config}[request.param]


def test_tags_given_at_create_are_listed(sm, resource_factory):
    _, arn = resource_factory(sm, tags=[{"Key": "team", "Value": "ml"}, {"Key": "stage", "Value": "dev"}])
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == {"team": "ml", "stage": "dev"}


def test_resource_created_without_tags_lists_none(sm, resource_factory):
    _, arn = resource_factory(sm)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_add_tags_returns_and_lists_the_added_tags(sm, resource_factory):
    _, arn = resource_factory(sm)
    out = sm.add_tags(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "alice"}])
    assert as_dict(out["Tags"]) == {"owner": "alice"}
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == {"owner": "alice"}


def test_add_tags_merges_with_existing_and_overwrites_same_key(sm, resource_factory):
    _, arn = resource_factory(sm, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "b", "Value": "20"}, {"Key": "c", "Value": "3"}])
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == {"a": "1", "b": "20", "c": "3"}


def test_delete_tags_removes_only_named_keys(sm, resource_factory):
    _, arn = resource_factory(
        sm, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}]
    )
    sm.delete_tags(ResourceArn=arn, TagKeys=["a", "c"])
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == {"b": "2"}


def test_delete_tags_with_unknown_key_changes_nothing(sm, resource_factory):
    _, arn = resource_factory(sm, tags=[{"Key": "keep", "Value": "me"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["not-there"])
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == {"keep": "me"}


def test_tag_values_keep_unicode_spaces_and_symbols(sm, resource_factory):
    tags = [{"Key": "project name", "Value": "Überfall: 2024/Q1 @home +x=y"}, {"Key": "empty", "Value": ""}]
    _, arn = resource_factory(sm, tags=tags)
    assert as_dict(sm.list_tags(ResourceArn=arn)["Tags"]) == as_dict(tags)


def test_tags_of_one_resource_do_not_leak_to_another(sm):
    _, arn1 = new_model(sm, tags=[{"Key": "who", "Value": "first"}])
    _, arn2 = new_model(sm)
    sm.add_tags(ResourceArn=arn2, Tags=[{"Key": "who", "Value": "second"}])
    assert as_dict(sm.list_tags(ResourceArn=arn1)["Tags"]) == {"who": "first"}
    assert as_dict(sm.list_tags(ResourceArn=arn2)["Tags"]) == {"who": "second"}


def test_deleting_a_model_removes_its_tags(sm):
    name, arn = new_model(sm, tags=[{"Key": "old", "Value": "yes"}])
    sm.delete_model(ModelName=name)
    # a new model under the same name (so the same ARN) starts with no tags
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_deleting_an_endpoint_config_removes_its_tags(sm):
    name, arn = new_endpoint_config(sm, tags=[{"Key": "old", "Value": "yes"}])
    model = sm.describe_endpoint_config(EndpointConfigName=name)["ProductionVariants"][0]["ModelName"]
    sm.delete_endpoint_config(EndpointConfigName=name)
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "v", "ModelName": model, "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
    )
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_list_tags_returns_all_fifty_tags(sm):
    # 50 is the most tags a resource may hold; ListTags' MaxResults minimum is 50
    _, arn = new_model(sm)
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": str(i)} for i in range(30)])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i:02d}", "Value": str(i)} for i in range(30, 50)])
    seen = []
    for page in sm.get_paginator("list_tags").paginate(ResourceArn=arn, PaginationConfig={"PageSize": 50}):
        seen.extend(page["Tags"])
    assert as_dict(seen) == {f"k{i:02d}": str(i) for i in range(50)}
    assert len(seen) == 50
