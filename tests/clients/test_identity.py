"""STS GetCallerIdentity and IAM GetRole: what the SageMaker SDK needs to find its execution role."""

import datetime as dt
import re

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, IMAGE, ROLE_ARN, ROLE_NAME, unique


def sdk_execution_role(sts, iam):
    """The SageMaker Python SDK's get_execution_role() outside a notebook, step by step
    (sagemaker.session.Session.get_caller_identity_arn): take the caller's assumed-role ARN, rewrite
    it to the IAM role ARN, then ask IAM for the role (to learn its path) and use the ARN it returns."""
    assumed_role = sts.get_caller_identity()["Arn"]
    role = re.sub(r"^(.+)sts::(\d+):assumed-role/(.+?)/.*$", r"\1iam::\2:role/\3", assumed_role)
    role_name = role[role.rfind("/") + 1:]
    role = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    if ":role/" not in role:
        raise ValueError(f"The current AWS identity is not a role: {role}")
    return role


def test_caller_identity_is_the_assumed_sagemaker_role(sts):
    ident = sts.get_caller_identity()
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE_NAME}/sagebox"


def test_caller_user_id_is_the_role_id_and_session_name(sts, iam):
    # aws:userid for an assumed role is "<role id>:<role session name>"
    user_id = sts.get_caller_identity()["UserId"]
    role_id = iam.get_role(RoleName=ROLE_NAME)["Role"]["RoleId"]
    assert user_id == f"{role_id}:sagebox"


def test_caller_identity_carries_a_request_id(sts):
    meta = sts.get_caller_identity()["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["RequestId"], meta


def test_get_role_returns_the_execution_role(iam):
    role = iam.get_role(RoleName=ROLE_NAME)["Role"]
    assert role["RoleName"] == ROLE_NAME
    assert role["Arn"] == ROLE_ARN
    assert role["Path"] == "/"
    assert re.fullmatch(r"[\w]{16,128}", role["RoleId"]), role["RoleId"]
    assert isinstance(role["CreateDate"], dt.datetime)


def test_get_role_for_an_unknown_role_is_no_such_entity(iam):
    with pytest.raises(iam.exceptions.NoSuchEntityException) as e:
        iam.get_role(RoleName="NoSuchRole")
    resp = e.value.response
    assert resp["Error"]["Code"] == "NoSuchEntity"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "NoSuchRole" in resp["Error"]["Message"], resp["Error"]


def test_sagemaker_sdk_role_lookup_finds_the_execution_role(sts, iam):
    assert sdk_execution_role(sts, iam) == ROLE_ARN


def test_execution_role_is_accepted_by_create_model(sts, iam, sm):
    role = sdk_execution_role(sts, iam)
    name = unique("sdkrole")
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": IMAGE})
    assert sm.describe_model(ModelName=name)["ExecutionRoleArn"] == role


def test_region_and_account_flags_shape_every_arn(spawn_sagebox, client_factory):
    server = spawn_sagebox("--region", "eu-west-1", "--account-id", "123456789012")
    sts = client_factory("sts", server.url, region_name="eu-west-1")
    iam = client_factory("iam", server.url, region_name="eu-west-1")
    sm = client_factory("sagemaker", server.url, region_name="eu-west-1")
    ident = sts.get_caller_identity()
    assert ident["Account"] == "123456789012"
    assert ident["Arn"] == "arn:aws:sts::123456789012:assumed-role/SageMakerRole/sagebox"
    assert iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    out = sm.create_model(
        ModelName="Regional", ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        PrimaryContainer={"Image": "img"},
    )
    assert out["ModelArn"] == "arn:aws:sagemaker:eu-west-1:123456789012:model/regional"
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName="Missing")
    assert e.value.response["Error"]["Message"] == (
        'Could not find model "arn:aws:sagemaker:eu-west-1:123456789012:model/missing".'
    )


def test_simulate_principal_policy_allows_everything(iam):
    """sagebox enforces no IAM policy; SDK v3 asks this before it trains."""
    out = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN,
                                        ActionNames=["sagemaker:CreateTrainingJob", "s3:GetObject"])
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in out["EvaluationResults"]] == [
        ("sagemaker:CreateTrainingJob", "allowed"), ("s3:GetObject", "allowed")]
    assert out["IsTruncated"] is False
