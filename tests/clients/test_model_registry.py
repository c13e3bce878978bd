"""The SageMaker model registry, driven by boto3 and the SageMaker Python SDK: model package
groups, versioned and unversioned model packages, approval, listing with filters and sort, tags,
SageMaker's errors, and a registered XGBoost model deployed with `sagemaker.ModelPackage` and run
as a batch transform from a model made with CreateModel(ModelPackageName=...)."""

import os
import time

import pytest
from botocore.exceptions import ClientError

from support import REPO, docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def error(call):
    """The (code, message) of the ClientError call() raises."""
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def spec(data="s3://nowhere/model.tar.gz", **env):
    return {"Containers": [{"Image": IMAGE, "ModelDataUrl": data, "Environment": env}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            "SupportedTransformInstanceTypes": ["ml.m5.large"]}


def test_groups_are_created_described_listed_tagged_and_deleted(sm):
    a, b = unique("grp-a"), unique("grp-b")
    arn = sm.create_model_package_group(ModelPackageGroupName=a, ModelPackageGroupDescription="first",
                                        Tags=[{"Key": "team", "Value": "ml"}])["ModelPackageGroupArn"]
    assert arn.endswith(":model-package-group/" + a)
    time.sleep(0.01)
    sm.create_model_package_group(ModelPackageGroupName=b)
    d = sm.describe_model_package_group(ModelPackageGroupName=a)
    assert d["ModelPackageGroupStatus"] == "Completed"
    assert d["ModelPackageGroupDescription"] == "first" and d["ModelPackageGroupArn"] == arn
    assert sm.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupName"] == a
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    assert len(sm.list_tags(ResourceArn=arn)["Tags"]) == 2

    code, msg = error(lambda: sm.create_model_package_group(ModelPackageGroupName=a))
    assert code == "ValidationException" and "already exists" in msg

    prefix = a.split("-")[0] + "-"
    names = lambda **kw: [g["ModelPackageGroupName"] for g in sm.list_model_package_groups(
        NameContains=prefix, **kw)["ModelPackageGroupSummaryList"]]
    mine = [n for n in names() if n in (a, b)]
    assert mine == [a, b]  # oldest first by default
    mine = [n for n in names(SortOrder="Descending") if n in (a, b)]
    assert mine == [b, a]
    page = sm.list_model_package_groups(NameContains=prefix, MaxResults=1)
    assert len(page["ModelPackageGroupSummaryList"]) == 1 and "NextToken" in page

    sm.delete_model_package_group(ModelPackageGroupName=b)
    code, _ = error(lambda: sm.describe_model_package_group(ModelPackageGroupName=b))
    assert code == "ValidationException"
    code, _ = error(lambda: sm.delete_model_package_group(ModelPackageGroupName=b))
    assert code == "ValidationException"


def test_versions_are_numbered_listed_approved_and_described(sm):
    group = unique("versions")
    sm.create_model_package_group(ModelPackageGroupName=group)
    first = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(),
                                    ModelPackageDescription="one",
                                    CustomerMetadataProperties={"a": "1", "b": "2"},
                                    MetadataProperties={"CommitId": "abc"}, Domain="MACHINE_LEARNING",
                                    Task="REGRESSION")["ModelPackageArn"]
    time.sleep(0.01)
    second = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(),
                                     ModelApprovalStatus="Rejected", ClientToken="tok-2")["ModelPackageArn"]
    assert first.endswith("/%s/1" % group) and second.endswith("/%s/2" % group)
    again = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(),
                                    ClientToken="tok-2")["ModelPackageArn"]
    assert again == second

    d = sm.describe_model_package(ModelPackageName=first)
    assert d["ModelPackageName"] == group and d["ModelPackageGroupName"] == group
    assert d["ModelPackageVersion"] == 1 and d["ModelPackageStatus"] == "Completed"
    assert d["ModelPackageStatusDetails"] == {"ValidationStatuses": [], "ImageScanStatuses": []}
    assert d["ModelApprovalStatus"] == "PendingManualApproval"
    assert d["InferenceSpecification"]["Containers"][0]["Image"] == IMAGE
    assert d["CustomerMetadataProperties"] == {"a": "1", "b": "2"}
    assert d["MetadataProperties"] == {"CommitId": "abc"} and d["Task"] == "REGRESSION"
    assert sm.describe_model_package(ModelPackageName="%s/2" % group)["ModelPackageArn"] == second

    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2]
    assert listed[0]["ModelPackageDescription"] == "one"
    listed = sm.list_model_packages(ModelPackageGroupName=group, SortOrder="Descending")
    assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [second, first]
    rejected = sm.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Rejected")
    assert [p["ModelPackageArn"] for p in rejected["ModelPackageSummaryList"]] == [second]
    versioned = sm.list_model_packages(ModelPackageType="Versioned", NameContains=group)
    assert len(versioned["ModelPackageSummaryList"]) == 2
    assert sm.list_model_packages(NameContains=group)["ModelPackageSummaryList"] == []

    before = d["LastModifiedTime"]
    time.sleep(0.01)
    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved",
                            ApprovalDescription="looks good", CustomerMetadataProperties={"c": "3"},
                            CustomerMetadataPropertiesToRemove=["a"])
    d = sm.describe_model_package(ModelPackageName=first)
    assert d["ModelApprovalStatus"] == "Approved" and d["ApprovalDescription"] == "looks good"
    assert d["CustomerMetadataProperties"] == {"b": "2", "c": "3"}
    assert d["LastModifiedTime"] > before

    batch = sm.batch_describe_model_package(ModelPackageArnList=[first, first[:-1] + "9"])
    assert batch["ModelPackageSummaries"][first]["ModelApprovalStatus"] == "Approved"
    assert list(batch["BatchDescribeModelPackageErrorMap"]) == [first[:-1] + "9"]

    sm.add_tags(ResourceArn=first, Tags=[{"Key": "k", "Value": "v"}])
    assert sm.list_tags(ResourceArn=first)["Tags"] == [{"Key": "k", "Value": "v"}]

    code, msg = error(lambda: sm.delete_model_package_group(ModelPackageGroupName=group))
    assert code == "ConflictException", msg
    sm.delete_model_package(ModelPackageName=second)
    third = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec())
    assert third["ModelPackageArn"].endswith("/%s/3" % group)  # numbers are not reused


def test_unversioned_packages_and_errors(sm):
    name = unique("loose")
    arn = sm.create_model_package(ModelPackageName=name, InferenceSpecification=spec())["ModelPackageArn"]
    assert arn.endswith(":model-package/" + name)
    d = sm.describe_model_package(ModelPackageName=name)
    assert d["ModelPackageName"] == name and "ModelPackageGroupName" not in d
    assert "ModelApprovalStatus" not in d
    listed = sm.list_model_packages(NameContains=name)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [arn]
    assert sm.list_model_packages(NameContains=name, ModelPackageType="Versioned")["ModelPackageSummaryList"] == []

    code, _ = error(lambda: sm.create_model_package(ModelPackageGroupName=unique("nogroup"),
                                                    InferenceSpecification=spec()))
    assert code == "ValidationException"
    code, _ = error(lambda: sm.describe_model_package(ModelPackageName=unique("nopkg")))
    assert code == "ValidationException"
    code, _ = error(lambda: sm.delete_model_package(ModelPackageName=unique("nopkg") + "/4"))
    assert code == "ValidationException"
    code, msg = error(lambda: sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe"))
    assert code == "ValidationException" and "Maybe" in msg
    code, _ = error(lambda: sm.create_model_package(ModelPackageName=unique("x"), ModelPackageGroupName=name,
                                                    InferenceSpecification=spec()))
    assert code == "ValidationException"

    group = unique("pending")
    sm.create_model_package_group(ModelPackageGroupName=group)
    pending = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec())["ModelPackageArn"]
    code, msg = error(lambda: sm.create_model(ModelName=unique("m"), ExecutionRoleArn=ROLE,
                                              PrimaryContainer={"ModelPackageName": pending}))
    assert code == "ValidationException" and "Approved" in msg
    sm.delete_model_package(ModelPackageName=name)
    code, _ = error(lambda: sm.describe_model_package(ModelPackageName=arn))
    assert code == "ValidationException"


@pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true", reason="no Docker engine answers")
def test_sdk_model_package_deploys_predicts_and_transforms(sdk_session, sm, s3, bucket):
    from sagemaker import ModelPackage, image_uris
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer
    from sagemaker.transformer import Transformer

    train = sdk_session.upload_data(str(REPO / "fixtures" / "diabetes" / "train.csv"), bucket, "reg/train")
    est = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", version="1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                    output_path="s3://%s/reg/output" % bucket,
                    hyperparameters={"num_round": 20, "objective": "reg:squarederror", "max_depth": 3})
    est.fit({"train": TrainingInput(train, content_type="text/csv")}, logs=False)

    group = unique("diabetes")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group,
                                  InferenceSpecification=spec(est.model_data))["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    package = ModelPackage(role=ROLE, model_package_arn=arn, sagemaker_session=sdk_session,
                           predictor_cls=Predictor)
    predictor = package.deploy(initial_instance_count=1, instance_type="ml.m5.large",
                               serializer=CSVSerializer(), deserializer=CSVDeserializer())
    try:
        rows = [line.split(",")[1:] for line in
                (REPO / "fixtures" / "diabetes" / "test.csv").read_text().splitlines()[:5]]
        preds = [float(r[0]) for r in predictor.predict(rows)]
        assert len(preds) == 5 and all(p > 0 for p in preds), preds
        model = sm.describe_model(ModelName=package.name)
        given = model.get("PrimaryContainer") or model["Containers"][0]
        assert given == {"ModelPackageName": arn}  # echoed as sent
    finally:
        predictor.delete_endpoint()

    name = unique("from-package")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": arn}])
    body = "\n".join(",".join(r) for r in rows) + "\n"
    s3.put_object(Bucket=bucket, Key="reg/batch/in/test.csv", Body=body.encode())
    transformer = Transformer(model_name=name, instance_count=1, instance_type="ml.m5.large",
                              output_path="s3://%s/reg/batch/out" % bucket, assemble_with="Line",
                              sagemaker_session=sdk_session)
    transformer.transform("s3://%s/reg/batch/in" % bucket, content_type="text/csv", split_type="Line")
    transformer.wait(logs=False)
    out = s3.get_object(Bucket=bucket, Key="reg/batch/out/test.csv.out")["Body"].read().decode().splitlines()
    assert [round(float(x), 3) for x in out] == [round(p, 3) for p in preds]
