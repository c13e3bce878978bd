"""Pipelines and their executions as resources, through boto3 (and the SDK's Pipeline.upsert):
create from an inline definition or an S3 location, duplicates and idempotency, versions,
listing, starting with typed parameters, describing and listing executions, their parameters and
definition, updates, tags and delete. The definition is a Condition step and a Fail step, which
need no containers; the tests named `test_executor_*` wait for an execution to end, which only
the pipeline executor makes happen (deselect them with `-k "not executor"` where it is absent)."""

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"

DEFINITION = {
    "Version": "2020-12-01",
    "Metadata": {},
    "Parameters": [
        {"Name": "Threshold", "Type": "Integer", "DefaultValue": 3},
        {"Name": "Label", "Type": "String", "DefaultValue": "plain"},
    ],
    "PipelineExperimentConfig": {
        "ExperimentName": {"Get": "Execution.PipelineName"},
        "TrialName": {"Get": "Execution.PipelineExecutionId"},
    },
    "Steps": [
        {
            "Name": "Check",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [{
                    "Type": "GreaterThanOrEqualTo",
                    "LeftValue": {"Get": "Parameters.Threshold"},
                    "RightValue": 5,
                }],
                "IfSteps": [{
                    "Name": "TooBig",
                    "Type": "Fail",
                    "Arguments": {"ErrorMessage": "threshold too big"},
                }],
                "ElseSteps": [],
            },
        }
    ],
}


def text(definition=None):
    return json.dumps(definition or DEFINITION)


def pipeline_arn(name):
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{name.lower()}"


def create(sm, name, **kw):
    kw.setdefault("PipelineDefinition", text())
    return sm.create_pipeline(PipelineName=name, RoleArn=ROLE,
                              ClientRequestToken=str(uuid.uuid4()), **kw)


def start(sm, name, **kw):
    return sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=str(uuid.uuid4()),
                                       **kw)["PipelineExecutionArn"]


def wait_for_end(sm, arn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if d["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return d
        time.sleep(0.5)
    pytest.fail(f"{arn} still running after {timeout}s")


def test_create_pipeline_from_an_inline_definition_and_describe_it(sm):
    name = unique("Pipe")
    arn = create(sm, name, PipelineDescription="first", Tags=[{"Key": "team", "Value": "ml"}],
                 ParallelismConfiguration={"MaxParallelExecutionSteps": 2})["PipelineArn"]
    assert arn == pipeline_arn(name)
    for ref in (name, arn):
        d = sm.describe_pipeline(PipelineName=ref)
        assert d["PipelineName"] == name
        assert d["PipelineArn"] == arn
        assert d["PipelineStatus"] == "Active"
        assert d["PipelineDescription"] == "first"
        assert d["RoleArn"] == ROLE
        assert d["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
        assert json.loads(d["PipelineDefinition"]) == DEFINITION
        assert "LastRunTime" not in d
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


def test_create_pipeline_from_an_s3_location(sm, s3, bucket):
    s3.put_object(Bucket=bucket, Key="defs/p.json", Body=text().encode())
    name = unique("s3pipe")
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, ClientRequestToken=str(uuid.uuid4()),
                       PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "defs/p.json"})
    d = sm.describe_pipeline(PipelineName=name)
    assert json.loads(d["PipelineDefinition"]) == DEFINITION
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName=unique("s3pipe"), RoleArn=ROLE,
                           ClientRequestToken=str(uuid.uuid4()),
                           PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "nope.json"})
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_a_bad_definition_is_refused(sm):
    with pytest.raises(ClientError) as e:
        create(sm, unique("bad"), PipelineDefinition="{not json")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.create_pipeline(PipelineName=unique("none"), RoleArn=ROLE,
                           ClientRequestToken=str(uuid.uuid4()))
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_a_duplicate_name_is_refused_but_the_same_request_is_idempotent(sm):
    name = unique("dup")
    token = str(uuid.uuid4())
    arn = sm.create_pipeline(PipelineName=name, RoleArn=ROLE, ClientRequestToken=token,
                             PipelineDefinition=text())["PipelineArn"]
    again = sm.create_pipeline(PipelineName=name, RoleArn=ROLE, ClientRequestToken=token,
                               PipelineDefinition=text())["PipelineArn"]
    assert again == arn
    with pytest.raises(ClientError) as e:
        create(sm, name.upper())
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert "already exists" in err["Message"]


def test_unknown_pipelines_are_not_found(sm):
    name = unique("ghost")
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline(PipelineName=name)
    err = e.value.response["Error"]
    assert err["Code"] == "ResourceNotFound"
    assert err["Message"] == f"Pipeline '{pipeline_arn(name)}' does not exist."
    for call in (lambda: sm.list_pipeline_executions(PipelineName=name),
                 lambda: sm.update_pipeline(PipelineName=name, PipelineDescription="x"),
                 lambda: sm.delete_pipeline(PipelineName=name, ClientRequestToken=str(uuid.uuid4())),
                 lambda: start(sm, name)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_updates_with_a_definition_make_versions(sm):
    name = unique("ver")
    create(sm, name)
    changed = dict(DEFINITION, Parameters=[{"Name": "Threshold", "Type": "Integer",
                                            "DefaultValue": 7}, DEFINITION["Parameters"][1]])
    r = sm.update_pipeline(PipelineName=name, PipelineDefinition=text(changed),
                           PipelineDisplayName="Shown", PipelineDescription="second")
    assert r == {"PipelineArn": pipeline_arn(name), "PipelineVersionId": 2,
                 "ResponseMetadata": r["ResponseMetadata"]}
    r = sm.update_pipeline(PipelineName=name, RoleArn=ROLE + "2")
    assert r["PipelineVersionId"] == 2
    d = sm.describe_pipeline(PipelineName=name)
    assert json.loads(d["PipelineDefinition"]) == changed
    assert (d["PipelineDisplayName"], d["PipelineDescription"]) == ("Shown", "second")
    assert d["RoleArn"] == ROLE + "2"
    v1 = sm.describe_pipeline(PipelineName=name, PipelineVersionId=1)
    assert json.loads(v1["PipelineDefinition"]) == DEFINITION
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline(PipelineName=name, PipelineVersionId=9)
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    versions = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"]
    assert [v["PipelineVersionId"] for v in versions] == [2, 1]
    assert all(v["PipelineArn"] == pipeline_arn(name) for v in versions)
    asc = sm.list_pipeline_versions(PipelineName=name, SortOrder="Ascending", MaxResults=1)
    assert [v["PipelineVersionId"] for v in asc["PipelineVersionSummaries"]] == [1]
    rest = sm.list_pipeline_versions(PipelineName=name, SortOrder="Ascending",
                                     NextToken=asc["NextToken"])
    assert [v["PipelineVersionId"] for v in rest["PipelineVersionSummaries"]] == [2]


def test_list_pipelines_filters_sorts_and_pages(sm):
    prefix = unique("lst")
    names = [f"{prefix}-{c}" for c in ("b", "a", "c")]
    for n in names:
        create(sm, n)
        time.sleep(0.01)
    r = sm.list_pipelines(PipelineNamePrefix=prefix)
    assert [p["PipelineName"] for p in r["PipelineSummaries"]] == names[::-1]
    r = sm.list_pipelines(PipelineNamePrefix=prefix, SortBy="Name", SortOrder="Ascending")
    assert [p["PipelineName"] for p in r["PipelineSummaries"]] == sorted(names)
    first = sm.list_pipelines(PipelineNamePrefix=prefix, SortBy="Name", SortOrder="Ascending",
                              MaxResults=2)
    assert len(first["PipelineSummaries"]) == 2
    rest = sm.list_pipelines(PipelineNamePrefix=prefix, SortBy="Name", SortOrder="Ascending",
                             MaxResults=2, NextToken=first["NextToken"])
    assert [p["PipelineName"] for p in rest["PipelineSummaries"]] == [sorted(names)[2]]
    assert "NextToken" not in rest
    created = sm.describe_pipeline(PipelineName=names[1])["CreationTime"]
    after = sm.list_pipelines(PipelineNamePrefix=prefix, CreatedAfter=created)
    assert [p["PipelineName"] for p in after["PipelineSummaries"]] == [names[2]]
    s = sm.list_pipelines(PipelineNamePrefix=names[0])["PipelineSummaries"][0]
    assert s["PipelineArn"] == pipeline_arn(names[0]) and s["RoleArn"] == ROLE


def test_start_with_typed_parameters_and_describe_the_execution(sm):
    name = unique("run")
    create(sm, name)
    arn = start(sm, name, PipelineParameters=[{"Name": "Label", "Value": "fancy"}],
                PipelineExecutionDisplayName="first-run", PipelineExecutionDescription="d1")
    pid = arn.rsplit("/", 1)[1]
    assert arn == f"{pipeline_arn(name)}/execution/{pid}"
    assert len(pid) == 12 and pid.isalnum() and pid == pid.lower()
    d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert d["PipelineArn"] == pipeline_arn(name)
    assert d["PipelineExecutionDisplayName"] == "first-run"
    assert d["PipelineExecutionDescription"] == "d1"
    assert d["PipelineVersionId"] == 1
    assert d["PipelineExecutionStatus"] in ("Executing", "Succeeded")
    assert d["PipelineExperimentConfig"] == {"ExperimentName": name, "TrialName": pid}
    params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert params["PipelineParameters"] == [{"Name": "Threshold", "Value": "3"},
                                            {"Name": "Label", "Value": "fancy"}]
    definition = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)
    assert json.loads(definition["PipelineDefinition"]) == DEFINITION
    p = sm.describe_pipeline(PipelineName=name)
    assert "LastRunTime" in p
    v = sm.list_pipeline_versions(PipelineName=name)["PipelineVersionSummaries"][0]
    assert v["LastExecutionPipelineExecutionArn"] == arn


def test_bad_parameters_are_refused(sm):
    name = unique("params")
    create(sm, name)
    for params in ([{"Name": "Threshold", "Value": "three"}], [{"Name": "Nope", "Value": "1"}]):
        with pytest.raises(ClientError) as e:
            start(sm, name, PipelineParameters=params)
        assert e.value.response["Error"]["Code"] == "ValidationException"
    assert sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"] == []


def test_the_same_start_token_answers_the_same_execution(sm):
    name = unique("idem")
    create(sm, name)
    token = str(uuid.uuid4())
    a = sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=token)
    b = sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=token)
    assert a["PipelineExecutionArn"] == b["PipelineExecutionArn"]
    assert len(sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]) == 1


def test_list_executions_sorts_and_pages(sm):
    name = unique("execs")
    create(sm, name)
    arns = []
    for _ in range(3):
        arns.append(start(sm, name))
        time.sleep(0.01)
    r = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in r] == arns[::-1]
    assert all("StartTime" in e and "PipelineExecutionStatus" in e for e in r)
    r = sm.list_pipeline_executions(PipelineName=pipeline_arn(name), SortBy="PipelineExecutionArn",
                                    SortOrder="Ascending", MaxResults=2)
    assert [e["PipelineExecutionArn"] for e in r["PipelineExecutionSummaries"]] == sorted(arns)[:2]
    rest = sm.list_pipeline_executions(PipelineName=name, SortBy="PipelineExecutionArn",
                                       SortOrder="Ascending", NextToken=r["NextToken"])
    assert [e["PipelineExecutionArn"] for e in rest["PipelineExecutionSummaries"]] == [sorted(arns)[2]]


def test_update_execution_and_unknown_executions(sm):
    name = unique("upd")
    create(sm, name)
    arn = start(sm, name)
    r = sm.update_pipeline_execution(PipelineExecutionArn=arn, PipelineExecutionDisplayName="renamed",
                                     PipelineExecutionDescription="later",
                                     ParallelismConfiguration={"MaxParallelExecutionSteps": 1})
    assert r["PipelineExecutionArn"] == arn
    d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert d["PipelineExecutionDisplayName"] == "renamed"
    assert d["PipelineExecutionDescription"] == "later"
    assert d["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}
    ghost = f"{pipeline_arn(name)}/execution/zzzzzzzzzzzz"
    for call in (lambda: sm.describe_pipeline_execution(PipelineExecutionArn=ghost),
                 lambda: sm.list_pipeline_execution_steps(PipelineExecutionArn=ghost),
                 lambda: sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=ghost),
                 lambda: sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=ghost)):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_selective_execution_needs_known_steps_and_a_source_of_the_same_pipeline(sm):
    name, other = unique("sel"), unique("sel")
    create(sm, name)
    create(sm, other)
    foreign = start(sm, other)
    with pytest.raises(ClientError) as e:
        start(sm, name, SelectiveExecutionConfig={"SelectedSteps": [{"StepName": "Nope"}],
                                                  "SourcePipelineExecutionArn": foreign})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        start(sm, name, SelectiveExecutionConfig={"SelectedSteps": [{"StepName": "Check"}],
                                                  "SourcePipelineExecutionArn": foreign})
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_tags_on_pipelines_and_executions(sm):
    name = unique("tags")
    arn = create(sm, name)["PipelineArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    execution = start(sm, name)
    sm.add_tags(ResourceArn=execution, Tags=[{"Key": "b", "Value": "2"}])
    assert sm.list_tags(ResourceArn=execution)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_delete_pipeline_removes_it_and_its_executions(sm):
    name = unique("del")
    create(sm, name)
    execution = start(sm, name)
    r = sm.delete_pipeline(PipelineName=name, ClientRequestToken=str(uuid.uuid4()))
    assert r["PipelineArn"] == pipeline_arn(name)
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline(PipelineName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as e:
        sm.describe_pipeline_execution(PipelineExecutionArn=execution)
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"


def test_sdk_upsert_creates_then_updates_and_merges_tags(sm, sdk_session):
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.parameters import ParameterInteger
    from sagemaker.workflow.pipeline import Pipeline

    threshold = ParameterInteger(name="Threshold", default_value=3)
    fail = FailStep(name="TooBig", error_message="threshold too big")
    check = ConditionStep(name="Check", conditions=[
        ConditionGreaterThanOrEqualTo(left=threshold, right=5)], if_steps=[fail], else_steps=[])
    name = unique("sdk")
    pipeline = Pipeline(name=name, parameters=[threshold], steps=[check],
                        sagemaker_session=sdk_session)
    r = pipeline.upsert(role_arn=ROLE, tags=[{"Key": "a", "Value": "1"}])
    assert r["PipelineArn"] == pipeline_arn(name)
    r = pipeline.upsert(role_arn=ROLE, description="again", tags=[{"Key": "b", "Value": "2"}])
    assert r["PipelineVersionId"] == 2
    assert pipeline.describe()["PipelineDescription"] == "again"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=pipeline_arn(name))["Tags"]}
    assert tags == {"a": "1", "b": "2"}
    execution = pipeline.start(parameters={"Threshold": 1})
    assert execution.describe()["PipelineExecutionStatus"] in ("Executing", "Succeeded")
    assert {p["Name"]: p["Value"] for p in execution.list_parameters()["PipelineParameters"]} == {
        "Threshold": "1"}


def test_executor_ends_an_execution_and_lists_its_steps(sm):
    """Needs the executor: an execution of the two steps ends within seconds."""
    name = unique("ends")
    create(sm, name)
    ok = start(sm, name)
    d = wait_for_end(sm, ok)
    assert d["PipelineExecutionStatus"] == "Succeeded"
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=ok)["PipelineExecutionSteps"]
    assert [s["StepName"] for s in steps] == ["Check"]
    assert steps[0]["Metadata"]["Condition"]["Outcome"] == "False"
    bad = start(sm, name, PipelineParameters=[{"Name": "Threshold", "Value": "9"}])
    d = wait_for_end(sm, bad)
    assert d["PipelineExecutionStatus"] == "Failed"
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=bad)["PipelineExecutionSteps"]
    assert [s["StepName"] for s in steps] == ["TooBig", "Check"]
    summary = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"][0]
    assert summary["PipelineExecutionArn"] == bad
    assert summary["PipelineExecutionStatus"] == "Failed"
