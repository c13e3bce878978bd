"""The stored-resource engine's rules, through boto3: statuses settle in SageMaker's order (and a
client's Describe waits for a due settle unless `--describe-hold 0`), parents must exist and keep
their children, versions and aliases, deletes that take children along, policies kept on a
resource, and everything surviving a restart (`kill -9` included).

test_all_operations.py calls every operation; test_cli_families.py drives 22 families through the
AWS CLI; this file pins the behaviours those do not look at closely.
"""

import time

import pytest
from botocore.exceptions import ClientError

from support import ROLE_ARN, unique


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def domain(sm):
    return sm.create_domain(
        DomainName=unique("dom"), AuthMode="IAM", SubnetIds=["subnet-1"], VpcId="vpc-1",
        DefaultUserSettings={"ExecutionRole": ROLE_ARN})


def test_statuses_settle_in_order_and_a_describe_waits_for_a_due_settle(spawn_sagebox, client_factory):
    # with holds off, a client sees the transitional status, then the settled one
    sm = client_factory("sagemaker", spawn_sagebox("--describe-hold", "0").url)
    created = domain(sm)
    assert sm.describe_domain(DomainId=created["DomainId"])["Status"] == "Pending"
    time.sleep(0.5)
    assert sm.describe_domain(DomainId=created["DomainId"])["Status"] == "InService"
    schedule = unique("sched")
    sm.create_experiment(ExperimentName=schedule)  # any family without a status still answers
    assert "Status" not in sm.describe_experiment(ExperimentName=schedule)

    # held (the default), the first Describe after Create already answers InService
    held = client_factory("sagemaker", spawn_sagebox().url)
    d = domain(held)
    started = time.monotonic()
    assert held.describe_domain(DomainId=d["DomainId"])["Status"] == "InService"
    assert time.monotonic() - started < 5


def test_parents_must_exist_and_keep_their_children(sm):
    # CreateUserProfile's model lists no ResourceNotFound: a missing parent is a validation error
    code, message = error_code(lambda: sm.create_user_profile(
        DomainId="d-000000000000", UserProfileName="alice"))
    assert code == "ValidationException" and "d-000000000000" in message
    # CreateTrial's does
    code, _ = error_code(lambda: sm.create_trial(TrialName=unique("t"), ExperimentName=unique("no")))
    assert code == "ResourceNotFound"
    d = domain(sm)
    sm.create_user_profile(DomainId=d["DomainId"], UserProfileName="alice")
    code, message = error_code(lambda: sm.delete_domain(DomainId=d["DomainId"]))
    assert code == "ResourceInUse" and "user-profile" in message
    listed = sm.list_user_profiles(DomainIdEquals=d["DomainId"])["UserProfiles"]
    assert [p["UserProfileName"] for p in listed] == ["alice"]
    sm.delete_user_profile(DomainId=d["DomainId"], UserProfileName="alice")
    sm.delete_domain(DomainId=d["DomainId"])
    code, _ = error_code(lambda: sm.describe_domain(DomainId=d["DomainId"]))
    assert code == "ResourceNotFound"


def test_image_versions_count_up_carry_aliases_and_go_with_their_image(sm):
    image = unique("img")
    sm.create_image(ImageName=image, RoleArn=ROLE_ARN)
    first = sm.create_image_version(ImageName=image, BaseImage="repo:1", Aliases=["stable"])
    second = sm.create_image_version(ImageName=image, BaseImage="repo:2")
    assert first["ImageVersionArn"].endswith(f"image-version/{image}/1")
    assert second["ImageVersionArn"].endswith(f"image-version/{image}/2")
    assert sm.describe_image_version(ImageName=image)["Version"] == 2  # the latest
    sm.update_image_version(ImageName=image, Version=2, AliasesToAdd=["latest"])
    assert sm.list_aliases(ImageName=image)["SageMakerImageVersionAliases"] == ["stable", "latest"]
    assert sm.list_aliases(ImageName=image, Version=1)["SageMakerImageVersionAliases"] == ["stable"]
    assert sm.describe_image_version(ImageName=image, Alias="stable")["BaseImage"] == "repo:1"
    listed = sm.list_image_versions(ImageName=image)["ImageVersions"]
    assert [v["Version"] for v in listed] == [2, 1]
    assert all(v["ImageArn"].endswith(f"image/{image}") for v in listed)
    code, message = error_code(lambda: sm.describe_image_version(ImageName=image, Version=7))
    assert code == "ResourceNotFound" and f"{image}/7" in message
    sm.delete_image(ImageName=image)  # "Deletes a SageMaker AI image and all versions of the image"
    code, _ = error_code(lambda: sm.describe_image_version(ImageName=image, Version=1))
    assert code == "ResourceNotFound"


def test_duplicates_and_unknown_names_get_sagemakers_codes(sm):
    name = unique("exp")
    sm.create_experiment(ExperimentName=name)
    code, message = error_code(lambda: sm.create_experiment(ExperimentName=name))
    assert code == "ValidationException" and "already exists" in message
    d = domain(sm)
    sm.create_space(DomainId=d["DomainId"], SpaceName="team")
    code, message = error_code(lambda: sm.create_space(DomainId=d["DomainId"], SpaceName="team"))
    assert code == "ResourceInUse" and "already exists" in message
    code, _ = error_code(lambda: sm.describe_space(DomainId=d["DomainId"], SpaceName="nobody"))
    assert code == "ResourceNotFound"


def test_a_policy_is_kept_on_its_resource(sm):
    group = unique("grp")
    arn = sm.create_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    policy = '{"Version": "2012-10-17", "Statement": []}'
    put = sm.put_model_package_group_policy(ModelPackageGroupName=group, ResourcePolicy=policy)
    assert put["ModelPackageGroupArn"] == arn
    assert sm.get_model_package_group_policy(ModelPackageGroupName=group)["ResourcePolicy"] == policy
    sm.delete_model_package_group_policy(ModelPackageGroupName=group)
    code, _ = error_code(lambda: sm.get_model_package_group_policy(ModelPackageGroupName=group))
    assert code in ("ResourceNotFound", "ValidationException")
    code, _ = error_code(lambda: sm.put_model_package_group_policy(
        ModelPackageGroupName=unique("nogroup"), ResourcePolicy=policy))
    assert code in ("ResourceNotFound", "ValidationException")


def test_stored_resources_survive_a_kill(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    d = domain(sm)
    card = unique("card")
    sm.create_model_card(ModelCardName=card, Content="{}", ModelCardStatus="Draft")
    sm.update_model_card(ModelCardName=card, ModelCardStatus="PendingReview")
    sm.add_tags(ResourceArn=d["DomainArn"], Tags=[{"Key": "team", "Value": "ml"}])
    server.kill()
    server.start()
    assert sm.describe_domain(DomainId=d["DomainId"])["Status"] == "InService"
    assert sm.describe_model_card(ModelCardName=card)["ModelCardStatus"] == "PendingReview"
    assert sm.list_tags(ResourceArn=d["DomainArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]
