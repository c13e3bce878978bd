"""Errors as the clients see them: codes, messages and HTTP statuses that boto3 parses, AWS's
server-side ("Coral") validation wording, and what happens to requests no AWS client would send.

boto3 validates parameters itself, so the clients here built with parameter_validation=False
(`sm_raw`, `logs_raw`) are what reach the server's validation.
"""

import json

import pytest
from botocore.exceptions import ClientError

from support import IMAGE, ROLE_ARN, model_arn, post_json, unique

MODEL_NAME_PATTERN = r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"


def client_error(fn, **kwargs):
    with pytest.raises(ClientError) as e:
        fn(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


# --- missing resources ------------------------------------------------------------------------


def test_describe_missing_model_names_its_arn(sm):
    name = unique("Missing-Model")
    code, message, status = client_error(sm.describe_model, ModelName=name)
    assert (code, status) == ("ValidationException", 400)
    assert message == f'Could not find model "{model_arn(name)}".'


def test_error_responses_carry_a_request_id(sm, logs):
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName=unique("reqid"))
    assert e.value.response["ResponseMetadata"].get("RequestId")
    with pytest.raises(ClientError) as e:
        logs.delete_log_group(logGroupName="/sagebox/none/" + unique("reqid"))
    assert e.value.response["ResponseMetadata"].get("RequestId")


def test_successful_responses_carry_a_request_id(sm, logs):
    assert sm.list_models(MaxResults=1)["ResponseMetadata"].get("RequestId")
    assert logs.describe_log_groups(limit=1)["ResponseMetadata"].get("RequestId")


# --- server-side validation (Coral wording) ---------------------------------------------------


def test_model_name_pattern_is_validated_by_the_server(sm_raw):
    code, message, status = client_error(
        sm_raw.create_model, ModelName="bad_name!", ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE}
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 'bad_name!' at 'modelName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    ), message
    assert MODEL_NAME_PATTERN in message, message


def test_model_name_length_is_validated_by_the_server(sm_raw):
    name = "m" * 64
    code, message, status = client_error(
        sm_raw.create_model, ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE}
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        f"1 validation error detected: Value '{name}' at 'modelName' failed to satisfy constraint: "
        "Member must have length less than or equal to 63"
    )


def test_missing_required_member_is_reported_as_null(sm_raw):
    code, message, status = client_error(sm_raw.describe_model)
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_several_violations_are_counted_and_joined(sm_raw):
    code, message, status = client_error(
        sm_raw.list_models, MaxResults=0, SortBy="Size"
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("2 validation errors detected: "), message
    parts = message[len("2 validation errors detected: "):].split("; ")
    assert len(parts) == 2, message
    assert any(
        p == "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        for p in parts
    ), message
    assert any(
        p.startswith("Value 'Size' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [")
        for p in parts
    ), message


def test_max_results_upper_bound_is_validated(sm_raw):
    code, message, status = client_error(sm_raw.list_endpoint_configs, MaxResults=101)
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
        "Member must have value less than or equal to 100"
    )


def test_enum_violation_lists_the_allowed_values(sm_raw):
    code, message, _ = client_error(sm_raw.list_models, SortOrder="Sideways")
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'Sideways' at 'sortOrder' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    ), message
    assert "Ascending" in message and "Descending" in message


def test_nested_member_paths_use_lower_camel_case_and_one_based_indexes(sm_raw):
    code, message, _ = client_error(
        sm_raw.create_model,
        ModelName=unique("tagpath"),
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE},
        Tags=[{"Key": "ok", "Value": "fine"}, {"Key": "bad!key", "Value": "v"}],
    )
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value 'bad!key' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    ), message


def test_invalid_request_creates_nothing(sm_raw, sm):
    name = "m" * 64
    with pytest.raises(ClientError):
        sm_raw.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    assert sm.list_models(NameContains="m" * 63)["Models"] == []


def test_logs_validation_errors_are_invalid_parameter_exceptions(logs_raw):
    code, message, status = client_error(logs_raw.create_log_group, logGroupName="bad name!")
    assert (code, status) == ("InvalidParameterException", 400)
    assert message == (
        "1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
    )


def test_logs_limit_range_is_validated(logs_raw):
    code, message, _ = client_error(logs_raw.describe_log_groups, limit=51)
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50"
    )


# --- raw HTTP: what only a broken or foreign client sends ------------------------------------


def test_unknown_sagemaker_operation_is_rejected(sagebox):
    r = post_json(sagebox.url, "SageMaker.NoSuchThing", {})
    assert r.status_code == 400, r.text
    assert r.json()["__type"].endswith("UnknownOperationException"), r.text


def test_unknown_logs_operation_is_rejected(sagebox):
    r = post_json(sagebox.url, "Logs_20140328.NoSuchThing", {})
    assert r.status_code == 400, r.text
    assert r.json()["__type"].endswith("UnknownOperationException"), r.text


def test_raw_create_model_validation_error_has_type_and_message(sagebox):
    r = post_json(sagebox.url, "SageMaker.CreateModel", {"ModelName": "bad_name!"})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["__type"].split("#")[-1] == "ValidationException", body
    msg = body.get("message", body.get("Message"))
    assert msg.startswith("1 validation error detected: Value 'bad_name!' at 'modelName'"), body


def test_raw_error_response_is_awsjson(sagebox):
    r = post_json(sagebox.url, "SageMaker.DescribeModel", {"ModelName": unique("rawmissing")})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/x-amz-json-1.1"), r.headers
    assert r.headers.get("x-amzn-RequestId"), r.headers


def test_wrong_json_type_is_a_serialization_error(sagebox):
    r = post_json(sagebox.url, "SageMaker.ListModels", {"MaxResults": "ten"})
    assert r.status_code == 400, r.text
    assert r.json()["__type"].endswith("SerializationException"), r.text


def test_malformed_json_body_is_a_serialization_error(sagebox):
    r = post_json(sagebox.url, "SageMaker.ListModels", "{not json")
    assert r.status_code == 400, r.text
    assert r.json()["__type"].endswith("SerializationException"), r.text


def test_raw_success_uses_epoch_seconds_for_timestamps(sagebox, sm):
    name = unique("epoch")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    r = post_json(sagebox.url, "SageMaker.DescribeModel", {"ModelName": name})
    assert r.status_code == 200, r.text
    body = json.loads(r.text)
    assert isinstance(body["CreationTime"], (int, float)) and body["CreationTime"] > 1.6e9, body
