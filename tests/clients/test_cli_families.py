"""Infrastructure-tool lifecycles, through the real AWS CLI, for 22 stored SageMaker families.

Terraform and CDK cannot run here, so this module drives what they would: for each family (Studio,
lineage, experiments, images, governance, monitoring, feature store, hubs, projects, workforce,
edge) one test runs `aws sagemaker create-X` with realistic arguments, then `describe-X` (every
member it sent comes back unchanged, the ARN is the one create answered and has the family's ARN
type, the status has settled), `list-Xs` (it is there), `update-X` where the family has one (the
change shows in the next describe), `add-tags` / `list-tags` on the ARN, `delete-X`, and a final
describe that fails with the error code SageMaker answers for a missing resource. Parents are
made first (through boto3, as setup), a parent that still has a child refuses deletion with
ResourceInUse, and the image families run the CLI's own waiters, which must return at once.

The steps are one loop over the FAMILIES table; each family is its own parametrized case so a
failure names it, and every case uses unique names so they run in any order under xdist.
"""

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

import botocore.session
import pytest
from botocore import xform_name

from support import ACCOUNT, REGION, ROLE_ARN, unique

ROLE2 = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRoleV2"
ARN_PREFIX = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:"
ECR = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
MODEL = botocore.session.get_session().get_service_model("sagemaker")
WAITER_LIMIT_S = 15  # CLI start-up included; a waiter that polls past its first attempt is far slower


@dataclass
class Family:
    noun: str                      # the CLI noun: create-<noun>, describe-<noun>, delete-<noun>
    create: Callable               # (name, parents) -> the Create request
    key: Callable                  # (name, parents, create answer) -> the identifying members
    arn: str                       # the ARN member of Create's answer and Describe's
    arn_type: str                  # what follows "arn:aws:sagemaker:region:account:"
    list: tuple                    # (list command, its arguments (name, parents), summaries member, summary key)
    gone: str = "ResourceNotFound" # the error code of Describe once deleted
    status: Optional[tuple] = None # (member, settled value) after create, and after update
    update: Optional[Callable] = None   # (name, parents) -> the Update request without the key
    updated: Optional[dict] = None      # what describe shows after it (default: the update's members)
    parents: Optional[Callable] = None  # (sm) -> dict of parent names/ids, made through boto3
    blocks: Optional[Callable] = None   # (parents) -> CLI args of a parent delete the child blocks
    nest: Optional[str] = None          # Describe's answer wraps the resource in this member
    # phase (created/updated) -> CLI waiter. Not the *-deleted ones: the CLI's copy of botocore
    # waits for ResourceNotFoundException, which SageMaker never sends (boto/botocore#3782)
    waiters: dict = field(default_factory=dict)


def _domain(sm):
    arn = sm.create_domain(DomainName=unique("cli-parent"), AuthMode="IAM",
                           DefaultUserSettings={"ExecutionRole": ROLE_ARN},
                           SubnetIds=["subnet-0a1b2c3d"], VpcId="vpc-0a1b2c3d")["DomainArn"]
    return {"domain": arn.rsplit("/", 1)[1]}


def _experiment(sm):
    name = unique("cli-parent")
    sm.create_experiment(ExperimentName=name)
    return {"experiment": name}


def _image(sm):
    name = unique("cli-parent")
    sm.create_image(ImageName=name, RoleArn=ROLE_ARN)
    return {"image": name}


def _dq_definition(sm):
    name = unique("cli-parent")
    sm.create_data_quality_job_definition(JobDefinitionName=name, **DQ_DEFINITION)
    return {"definition": name}


DQ_DEFINITION = {
    "DataQualityAppSpecification": {"ImageUri": f"{ECR}/sagemaker-model-monitor-analyzer"},
    "DataQualityJobInput": {"EndpointInput": {"EndpointName": "churn-endpoint",
                                              "LocalPath": "/opt/ml/processing/input"}},
    "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
        "S3Uri": "s3://monitoring/churn", "LocalPath": "/opt/ml/processing/output"}}]},
    "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                       "VolumeSizeInGB": 20}},
    "RoleArn": ROLE_ARN,
    "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
}
KERNEL = {"KernelSpecs": [{"Name": "python3", "DisplayName": "Python 3"}],
          "FileSystemConfig": {"MountPath": "/home/sagemaker-user", "DefaultUid": 1000, "DefaultGid": 100}}
SCHEDULE = {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}, "MonitoringType": "DataQuality"}
FEATURES = [{"FeatureName": "customer_id", "FeatureType": "String"},
            {"FeatureName": "event_time", "FeatureType": "String"},
            {"FeatureName": "spend", "FeatureType": "Fractional"}]
GIT = {"RepositoryUrl": "https://github.com/aws/sagemaker-python-sdk.git", "Branch": "master"}
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:git-token-AbCdEf"
COGNITO = {"UserPool": f"{REGION}_aBcDeFgHi", "UserGroup": "labelers", "ClientId": "client0123456789"}


def by_name(member):
    return lambda n, p, out: {member: n}


FAMILIES = [
    # --- Studio
    Family("domain", arn="DomainArn", arn_type="domain", status=("Status", "InService"),
           create=lambda n, p: {"DomainName": n, "AuthMode": "IAM",
                                "DefaultUserSettings": {"ExecutionRole": ROLE_ARN},
                                "SubnetIds": ["subnet-0a1b2c3d"], "VpcId": "vpc-0a1b2c3d",
                                "AppNetworkAccessType": "PublicInternetOnly"},
           key=lambda n, p, out: {"DomainId": out["DomainArn"].rsplit("/", 1)[1]},
           list=("list-domains", lambda n, p: [], "Domains", "DomainArn"),
           update=lambda n, p: {"DefaultUserSettings": {"ExecutionRole": ROLE2}}),
    Family("user-profile", arn="UserProfileArn", arn_type="user-profile", parents=_domain,
           status=("Status", "InService"),
           create=lambda n, p: {"DomainId": p["domain"], "UserProfileName": n,
                                "UserSettings": {"ExecutionRole": ROLE_ARN, "DefaultLandingUri": "studio::"}},
           key=lambda n, p, out: {"DomainId": p["domain"], "UserProfileName": n},
           list=("list-user-profiles", lambda n, p: ["--domain-id-equals", p["domain"]],
                 "UserProfiles", "UserProfileName"),
           update=lambda n, p: {"UserSettings": {"ExecutionRole": ROLE2, "DefaultLandingUri": "studio::"}},
           blocks=lambda p: ["delete-domain", "--domain-id", p["domain"]]),
    Family("space", arn="SpaceArn", arn_type="space", parents=_domain, status=("Status", "InService"),
           create=lambda n, p: {"DomainId": p["domain"], "SpaceName": n, "SpaceDisplayName": "Churn team",
                                "SpaceSharingSettings": {"SharingType": "Shared"},
                                "SpaceSettings": {"AppType": "JupyterLab", "JupyterLabAppSettings": {
                                    "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}}},
           key=lambda n, p, out: {"DomainId": p["domain"], "SpaceName": n},
           list=("list-spaces", lambda n, p: ["--domain-id-equals", p["domain"]], "Spaces", "SpaceName"),
           update=lambda n, p: {"SpaceDisplayName": "Churn team (renamed)"},
           blocks=lambda p: ["delete-domain", "--domain-id", p["domain"]]),
    Family("app-image-config", arn="AppImageConfigArn", arn_type="app-image-config",
           create=lambda n, p: {"AppImageConfigName": n, "KernelGatewayImageConfig": KERNEL},
           key=by_name("AppImageConfigName"),
           list=("list-app-image-configs", lambda n, p: ["--name-contains", n],
                 "AppImageConfigs", "AppImageConfigName"),
           update=lambda n, p: {"KernelGatewayImageConfig": {**KERNEL, "KernelSpecs": [
               {"Name": "python3", "DisplayName": "Python 3 (ipykernel)"}]}}),
    Family("studio-lifecycle-config", arn="StudioLifecycleConfigArn", arn_type="studio-lifecycle-config",
           create=lambda n, p: {"StudioLifecycleConfigName": n, "StudioLifecycleConfigAppType": "JupyterLab",
                                "StudioLifecycleConfigContent": base64.b64encode(
                                    b"#!/bin/bash\npip install --quiet black\n").decode()},
           key=by_name("StudioLifecycleConfigName"),
           list=("list-studio-lifecycle-configs", lambda n, p: ["--name-contains", n],
                 "StudioLifecycleConfigs", "StudioLifecycleConfigName")),
    # --- lineage
    Family("action", arn="ActionArn", arn_type="action",
           create=lambda n, p: {"ActionName": n, "ActionType": "ModelDeployment", "Status": "InProgress",
                                "Source": {"SourceUri": "s3://approvals/churn/v3", "SourceType": "Approval"},
                                "Description": "deploy churn v3",
                                "Properties": {"stage": "staging", "approver": "ml-lead"}},
           key=by_name("ActionName"),
           list=("list-actions", lambda n, p: ["--source-uri", "s3://approvals/churn/v3"],
                 "ActionSummaries", "ActionArn"),
           update=lambda n, p: {"Status": "Completed", "PropertiesToRemove": ["approver"]},
           updated={"Status": "Completed", "Properties": {"stage": "staging"}}),
    Family("artifact", arn="ArtifactArn", arn_type="artifact",
           create=lambda n, p: {"ArtifactName": n, "ArtifactType": "DataSet", "Properties": {"rows": "1000"},
                                "Source": {"SourceUri": f"s3://datasets/{n}/train.csv",
                                           "SourceTypes": [{"SourceIdType": "S3ETag", "Value": "9b2cf535"}]}},
           key=lambda n, p, out: {"ArtifactArn": out["ArtifactArn"]},
           list=("list-artifacts", lambda n, p: ["--source-uri", f"s3://datasets/{n}/train.csv"],
                 "ArtifactSummaries", "ArtifactArn"),
           update=lambda n, p: {"ArtifactName": n + "-v2", "Properties": {"rows": "2000"}}),
    Family("context", arn="ContextArn", arn_type="context",
           create=lambda n, p: {"ContextName": n, "ContextType": "Endpoint", "Description": "churn endpoint",
                                "Source": {"SourceUri": f"{ARN_PREFIX}endpoint/churn", "SourceType": "ARN"},
                                "Properties": {"team": "growth"}},
           key=by_name("ContextName"),
           list=("list-contexts", lambda n, p: ["--source-uri", f"{ARN_PREFIX}endpoint/churn"],
                 "ContextSummaries", "ContextName"),
           update=lambda n, p: {"Description": "churn endpoint, retrained"}),
    # --- experiments
    Family("experiment", arn="ExperimentArn", arn_type="experiment",
           create=lambda n, p: {"ExperimentName": n, "DisplayName": "churn", "Description": "xgboost sweep"},
           key=by_name("ExperimentName"),
           list=("list-experiments", lambda n, p: [], "ExperimentSummaries", "ExperimentName"),
           update=lambda n, p: {"DisplayName": "churn-final", "Description": "xgboost sweep, done"}),
    Family("trial", arn="TrialArn", arn_type="experiment-trial", parents=_experiment,
           create=lambda n, p: {"TrialName": n, "ExperimentName": p["experiment"], "DisplayName": "depth-6"},
           key=by_name("TrialName"),
           list=("list-trials", lambda n, p: ["--experiment-name", p["experiment"]], "TrialSummaries", "TrialName"),
           update=lambda n, p: {"DisplayName": "depth-8"}),
    Family("trial-component", arn="TrialComponentArn", arn_type="experiment-trial-component",
           create=lambda n, p: {"TrialComponentName": n, "DisplayName": "train",
                                "Status": {"PrimaryStatus": "InProgress", "Message": "epoch 1"},
                                "Parameters": {"lr": {"NumberValue": 0.1}, "optimizer": {"StringValue": "adam"},
                                               "seed": {"NumberValue": 7}},
                                "InputArtifacts": {"train": {"Value": "s3://datasets/churn/train.csv",
                                                             "MediaType": "text/csv"}}},
           key=by_name("TrialComponentName"),
           list=("list-trial-components", lambda n, p: [], "TrialComponentSummaries", "TrialComponentName"),
           # UpdateTrialComponent's Parameters replace the keys they name and add new ones
           update=lambda n, p: {"Status": {"PrimaryStatus": "Completed"}, "ParametersToRemove": ["seed"],
                                "Parameters": {"lr": {"NumberValue": 0.05}, "epochs": {"NumberValue": 10}}},
           updated={"Status": {"PrimaryStatus": "Completed"},
                    "Parameters": {"lr": {"NumberValue": 0.05}, "optimizer": {"StringValue": "adam"},
                                   "epochs": {"NumberValue": 10}}}),
    # --- images
    Family("image", arn="ImageArn", arn_type="image", status=("ImageStatus", "CREATED"),
           create=lambda n, p: {"ImageName": n, "RoleArn": ROLE_ARN, "DisplayName": "Churn kernel",
                                "Description": "python 3.11 + xgboost"},
           key=by_name("ImageName"),
           list=("list-images", lambda n, p: ["--name-contains", n], "Images", "ImageName"),
           update=lambda n, p: {"DisplayName": "Churn kernel 2", "RoleArn": ROLE2,
                                "DeleteProperties": ["Description"]},
           updated={"DisplayName": "Churn kernel 2", "RoleArn": ROLE2, "Description": None},
           waiters={"created": "image-created", "updated": "image-updated"}),
    Family("image-version", arn="ImageVersionArn", arn_type="image-version", parents=_image,
           status=("ImageVersionStatus", "CREATED"),
           create=lambda n, p: {"ImageName": p["image"], "BaseImage": f"{ECR}/churn-kernel:3.11",
                                "ClientToken": str(uuid.uuid4()), "Aliases": ["stable"], "JobType": "TRAINING",
                                "Processor": "CPU", "ProgrammingLang": "Python 3.11",
                                "MLFramework": "XGBoost 1.7", "ReleaseNotes": "first cut"},
           key=lambda n, p, out: {"ImageName": p["image"], "Version": 1},
           list=("list-image-versions", lambda n, p: ["--image-name", p["image"]], "ImageVersions",
                 "ImageVersionArn"),
           update=lambda n, p: {"AliasesToAdd": ["latest"], "ReleaseNotes": "pinned numpy"},
           updated={"ReleaseNotes": "pinned numpy"},
           waiters={"created": "image-version-created"}),
    # --- governance and monitoring
    Family("model-card", arn="ModelCardArn", arn_type="model-card",
           create=lambda n, p: {"ModelCardName": n, "ModelCardStatus": "Draft", "Content": json.dumps(
               {"model_overview": {"model_description": "churn classifier", "model_owner": "growth"}})},
           key=by_name("ModelCardName"),
           list=("list-model-cards", lambda n, p: ["--name-contains", n], "ModelCardSummaries", "ModelCardName"),
           update=lambda n, p: {"ModelCardStatus": "PendingReview"}),
    Family("data-quality-job-definition", arn="JobDefinitionArn", arn_type="data-quality-job-definition",
           create=lambda n, p: {"JobDefinitionName": n, **DQ_DEFINITION},
           key=by_name("JobDefinitionName"),
           list=("list-data-quality-job-definitions", lambda n, p: ["--name-contains", n],
                 "JobDefinitionSummaries", "MonitoringJobDefinitionName")),
    Family("monitoring-schedule", arn="MonitoringScheduleArn", arn_type="monitoring-schedule",
           parents=_dq_definition, status=("MonitoringScheduleStatus", "Scheduled"),
           create=lambda n, p: {"MonitoringScheduleName": n, "MonitoringScheduleConfig": {
               **SCHEDULE, "MonitoringJobDefinitionName": p["definition"]}},
           key=by_name("MonitoringScheduleName"),
           list=("list-monitoring-schedules", lambda n, p: ["--name-contains", n],
                 "MonitoringScheduleSummaries", "MonitoringScheduleName"),
           update=lambda n, p: {"MonitoringScheduleConfig": {
               **SCHEDULE, "ScheduleConfig": {"ScheduleExpression": "cron(0 0 ? * * *)"},
               "MonitoringJobDefinitionName": p["definition"]}}),
    # --- feature store, repositories, hubs, projects, workforce, edge
    Family("feature-group", arn="FeatureGroupArn", arn_type="feature-group",
           status=("FeatureGroupStatus", "Created"),
           create=lambda n, p: {"FeatureGroupName": n, "RecordIdentifierFeatureName": "customer_id",
                                "EventTimeFeatureName": "event_time", "FeatureDefinitions": FEATURES,
                                "OnlineStoreConfig": {"EnableOnlineStore": True}, "Description": "churn features"},
           key=by_name("FeatureGroupName"),
           list=("list-feature-groups", lambda n, p: ["--name-contains", n], "FeatureGroupSummaries",
                 "FeatureGroupName"),
           # FeatureAdditions appends to FeatureDefinitions
           update=lambda n, p: {"FeatureAdditions": [{"FeatureName": "visits", "FeatureType": "Integral"}]},
           updated={"FeatureDefinitions": FEATURES + [{"FeatureName": "visits", "FeatureType": "Integral"}],
                    "LastUpdateStatus": {"Status": "Successful"}}),
    Family("code-repository", arn="CodeRepositoryArn", arn_type="code-repository", gone="ValidationException",
           create=lambda n, p: {"CodeRepositoryName": n, "GitConfig": GIT},
           key=by_name("CodeRepositoryName"),
           list=("list-code-repositories", lambda n, p: ["--name-contains", n], "CodeRepositorySummaryList",
                 "CodeRepositoryName"),
           # GitConfigForUpdate carries only the secret; URL and branch stay
           update=lambda n, p: {"GitConfig": {"SecretArn": SECRET}},
           updated={"GitConfig": {**GIT, "SecretArn": SECRET}}),
    Family("hub", arn="HubArn", arn_type="hub", status=("HubStatus", "InService"),
           create=lambda n, p: {"HubName": n, "HubDescription": "curated models", "HubDisplayName": "Models",
                                "HubSearchKeywords": ["nlp", "churn"],
                                "S3StorageConfig": {"S3OutputPath": f"s3://hubs/{n}"}},
           key=by_name("HubName"),
           list=("list-hubs", lambda n, p: ["--name-contains", n], "HubSummaries", "HubName"),
           update=lambda n, p: {"HubDescription": "curated and reviewed models"}),
    Family("project", arn="ProjectArn", arn_type="project", gone="ValidationException",
           status=("ProjectStatus", "CreateCompleted"),
           create=lambda n, p: {"ProjectName": n, "ProjectDescription": "churn MLOps",
                                "ServiceCatalogProvisioningDetails": {"ProductId": "prod-abcdefgh12345",
                                                                      "ProvisioningArtifactId": "pa-abcdefgh12345"}},
           key=by_name("ProjectName"),
           list=("list-projects", lambda n, p: ["--name-contains", n], "ProjectSummaryList", "ProjectName"),
           update=lambda n, p: {"ProjectDescription": "churn MLOps, v2"},
           updated={"ProjectDescription": "churn MLOps, v2", "ProjectStatus": "UpdateCompleted"}),
    Family("workteam", arn="WorkteamArn", arn_type="workteam", gone="ValidationException", nest="Workteam",
           create=lambda n, p: {"WorkteamName": n, "Description": "churn labelers",
                                "MemberDefinitions": [{"CognitoMemberDefinition": COGNITO}]},
           key=by_name("WorkteamName"),
           list=("list-workteams", lambda n, p: ["--name-contains", n], "Workteams", "WorkteamName"),
           update=lambda n, p: {"Description": "churn labelers (EU)"}),
    Family("device-fleet", arn="DeviceFleetArn", arn_type="device-fleet",
           create=lambda n, p: {"DeviceFleetName": n, "RoleArn": ROLE_ARN, "Description": "store cameras",
                                "OutputConfig": {"S3OutputLocation": f"s3://edge/{n}"}},
           key=by_name("DeviceFleetName"),
           list=("list-device-fleets", lambda n, p: ["--name-contains", n], "DeviceFleetSummaries",
                 "DeviceFleetName"),
           update=lambda n, p: {"OutputConfig": {"S3OutputLocation": f"s3://edge/{n}"},
                                "Description": "store cameras, v2"}),
]


def _op(verb, fam):
    """The botocore operation name, e.g. ("describe", code-repository) -> DescribeCodeRepository."""
    return verb.capitalize() + "".join(w.capitalize() for w in fam.noun.split("-"))


def _flags(members):
    """Identifying members as CLI flags: {"DomainId": "d-1"} -> ["--domain-id", "d-1"]; the CLI
    renames Version to --version-number (--version is its own global option)."""
    return [a for k, v in members.items()
            for a in ("--" + ("version-number" if k == "Version" else xform_name(k, "-")), str(v))]


def _echoed(fam, request):
    """The members of a request that the Describe output shape also defines (so must come back)."""
    out = MODEL.operation_model(_op("describe", fam)).output_shape.members
    if fam.nest:
        out = out[fam.nest].members
    return {k: v for k, v in request.items() if k in out}


def _error_code(result):
    assert result.returncode in (254, 255), (result.returncode, result.stdout, result.stderr)
    return result.stderr.split("An error occurred (", 1)[-1].split(")", 1)[0]


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.noun for f in FAMILIES])
def test_cli_lifecycle(aws, sm, fam):
    name = unique("cli-" + fam.noun.split("-")[0])
    parents = fam.parents(sm) if fam.parents else {}

    def describe():
        answer = aws("sagemaker", "describe-" + fam.noun, *_flags(key)).json
        return answer[fam.nest] if fam.nest else answer

    def wait(phase):
        if phase in fam.waiters:
            started = time.monotonic()
            # as JSON: a waiter has no --version-number, and --version would print the CLI's
            aws("sagemaker", "wait", fam.waiters[phase], "--cli-input-json", json.dumps(key))
            assert time.monotonic() - started < WAITER_LIMIT_S, f"wait {fam.waiters[phase]} was slow"

    # create, the way an infrastructure tool sends it: the whole request as JSON
    request = fam.create(name, parents)
    created = aws("sagemaker", "create-" + fam.noun, "--cli-input-json", json.dumps(request)).json or {}
    key = fam.key(name, parents, created)
    wait("created")

    # describe: what was sent comes back, under the ARN create answered, settled
    d = describe()
    for member, sent in _echoed(fam, request).items():
        assert d.get(member) == sent, f"{member}: sent {sent!r}, described {d.get(member)!r}"
    arn = d[fam.arn]
    assert arn.startswith(f"{ARN_PREFIX}{fam.arn_type}/"), arn
    if fam.arn in created:
        assert created[fam.arn] == arn
    if fam.status:
        assert d[fam.status[0]] == fam.status[1], d

    # list: the summaries hold it
    command, list_args, member, summary_key = fam.list
    summaries = aws("sagemaker", command, *list_args(name, parents)).json[member]
    wanted = arn if summary_key.endswith("Arn") else d[summary_key] if summary_key in d else name
    assert wanted in [s.get(summary_key) for s in summaries], (wanted, summaries)

    # a parent with a child refuses deletion
    if fam.blocks:
        refused = aws("sagemaker", *fam.blocks(parents), check=False)
        assert _error_code(refused) == "ResourceInUse", refused.stderr

    # update, then describe shows the change (and the status settled again)
    if fam.update:
        change = fam.update(name, parents)
        aws("sagemaker", "update-" + fam.noun, "--cli-input-json", json.dumps({**key, **change}))
        wait("updated")
        d = describe()
        for member, value in (fam.updated or _echoed(fam, change)).items():
            assert d.get(member) == value, f"after update {member}: wanted {value!r}, got {d.get(member)!r}"
        if fam.status and fam.status[0] not in (fam.updated or {}):
            assert d[fam.status[0]] == fam.status[1], d

    # tags on the ARN
    aws("sagemaker", "add-tags", "--resource-arn", arn, "--tags", "Key=owner,Value=growth", "Key=env,Value=dev")
    tags = aws("sagemaker", "list-tags", "--resource-arn", arn).json["Tags"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "dev"), ("owner", "growth")]

    # delete; then describe names the error SageMaker answers for a missing resource
    aws("sagemaker", "delete-" + fam.noun, *_flags(key))
    missing = aws("sagemaker", "describe-" + fam.noun, *_flags(key), check=False)
    assert _error_code(missing) == fam.gone, missing.stderr

    # with the child gone, the parent deletes
    if fam.blocks:
        aws("sagemaker", *fam.blocks(parents))
