"""The AWS CLI (v1, from the same venv, `python -m awscli`) against sagebox."""

import json
import time

from support import ACCOUNT, IMAGE, ROLE_ARN, model_arn, unique


def test_cli_create_describe_list_delete_model(aws):
    name = unique("cli-model")
    out = aws(
        "sagemaker", "create-model",
        "--model-name", name,
        "--execution-role-arn", ROLE_ARN,
        "--primary-container", json.dumps({"Image": IMAGE, "Environment": {"K": "V"}}),
        "--tags", "Key=made-by,Value=cli",
    ).json
    assert out["ModelArn"] == model_arn(name)

    d = aws("sagemaker", "describe-model", "--model-name", name).json
    assert d["ModelName"] == name
    assert d["PrimaryContainer"]["Image"] == IMAGE
    assert d["PrimaryContainer"]["Environment"] == {"K": "V"}
    assert d["ExecutionRoleArn"] == ROLE_ARN

    listed = aws("sagemaker", "list-models", "--name-contains", name).json["Models"]
    assert [m["ModelName"] for m in listed] == [name]

    tags = aws("sagemaker", "list-tags", "--resource-arn", model_arn(name)).json["Tags"]
    assert tags == [{"Key": "made-by", "Value": "cli"}]

    deleted = aws("sagemaker", "delete-model", "--model-name", name)
    assert deleted.stdout.strip() == ""
    assert aws("sagemaker", "list-models", "--name-contains", name).json["Models"] == []


def test_cli_describe_missing_model_fails_with_the_aws_message(aws):
    name = unique("cli-missing")
    r = aws("sagemaker", "describe-model", "--model-name", name, check=False)
    assert r.returncode != 0
    assert "An error occurred (ValidationException) when calling the DescribeModel operation: " in r.stderr
    assert f'Could not find model "{model_arn(name)}".' in r.stderr


def test_cli_list_models_auto_paginates(aws, sm):
    tag = unique("cli-pages")
    for i in range(5):
        sm.create_model(ModelName=f"{tag}-{i}", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    # --page-size makes the CLI fetch 2 at a time and follow NextToken to the end
    out = aws("sagemaker", "list-models", "--name-contains", tag, "--page-size", "2",
              "--sort-by", "Name", "--sort-order", "Ascending").json
    assert [m["ModelName"] for m in out["Models"]] == [f"{tag}-{i}" for i in range(5)]
    assert "NextToken" not in out


def test_cli_list_endpoint_configs(aws, sm):
    model = unique("cli-ecm")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    name = unique("cli-config")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "v", "ModelName": model, "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
    )
    out = aws("sagemaker", "list-endpoint-configs", "--name-contains", name).json
    (cfg,) = out["EndpointConfigs"]
    assert cfg["EndpointConfigName"] == name
    assert cfg["EndpointConfigArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/{name.lower()}"
    # CLI v1 prints awsJson timestamps as they came on the wire: epoch seconds
    assert isinstance(cfg["CreationTime"], (int, float)) and cfg["CreationTime"] > 1.6e9, cfg


def test_cli_logs_round_trip(aws):
    group = "/sagebox/cli/" + unique("group")
    stream = "stream-1"
    assert aws("logs", "create-log-group", "--log-group-name", group).stdout.strip() == ""
    aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now - 2000, "message": "hello from the cli"},
              {"timestamp": now - 1000, "message": "second line"}]
    put = aws("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", stream,
              "--log-events", json.dumps(events)).json or {}
    assert "rejectedLogEventsInfo" not in put
    got = aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
              "--start-from-head").json
    assert [e["message"] for e in got["events"]] == ["hello from the cli", "second line"]
    assert [e["timestamp"] for e in got["events"]] == [now - 2000, now - 1000]
    assert got["nextForwardToken"] and got["nextBackwardToken"]


def test_cli_create_log_group_twice_fails(aws):
    group = "/sagebox/cli/" + unique("dup")
    aws("logs", "create-log-group", "--log-group-name", group)
    r = aws("logs", "create-log-group", "--log-group-name", group, check=False)
    assert r.returncode != 0
    assert "ResourceAlreadyExistsException" in r.stderr


def test_cli_sts_get_caller_identity(aws):
    out = aws("sts", "get-caller-identity").json
    assert out["Account"] == ACCOUNT
    assert out["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/sagebox"
    assert out["UserId"].endswith(":sagebox")


def test_cli_iam_get_role(aws):
    role = aws("iam", "get-role", "--role-name", "SageMakerRole").json["Role"]
    assert role["RoleName"] == "SageMakerRole"
    assert role["Arn"] == ROLE_ARN


def test_cli_iam_get_unknown_role_fails_with_no_such_entity(aws):
    r = aws("iam", "get-role", "--role-name", "NotARole", check=False)
    assert r.returncode != 0
    assert "NoSuchEntity" in r.stderr
