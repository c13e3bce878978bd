"""Train the bring-your-own model and deploy it, against the plugin's session server."""

import json
import os
import uuid

import boto3

IMAGE = os.environ["SAGEBOX_TEST_IMAGE"]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_the_session_server_is_exported(sagebox):
    # Clients made without an endpoint reach sagebox: the plugin exported AWS_ENDPOINT_URL.
    assert os.environ["AWS_ENDPOINT_URL"] == sagebox.url
    assert boto3.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_train_then_deploy(sagebox):
    sm, s3 = boto3.client("sagemaker"), sagebox.client("s3")
    bucket = unique("plugin")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="train/data.csv", Body=b"1,2\n3,4\n")
    job = unique("plugin-train")
    sm.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"mode": "ok"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")

    name = unique("plugin-model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": described["ModelArtifacts"]["S3ModelArtifacts"]})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    answer = sagebox.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=b'{"x": 1}', ContentType="application/json")
    echoed = json.loads(answer["Body"].read())
    assert echoed["body"] == '{"x": 1}'
    assert echoed["model_files"] == ["model.json"]
    # The endpoint is left running on purpose: the plugin's teardown must remove it.


def test_a_fresh_server_is_empty_and_separate(sagebox, sagebox_fresh):
    assert sagebox_fresh.url != sagebox.url
    sagebox.client("s3").create_bucket(Bucket="only-in-the-session-server")
    fresh = [b["Name"] for b in sagebox_fresh.client("s3").list_buckets()["Buckets"]]
    assert "only-in-the-session-server" not in fresh
    assert not any(b.startswith("plugin-") for b in fresh)
    assert sagebox_fresh.client("sagemaker").list_endpoints()["Endpoints"] == []
