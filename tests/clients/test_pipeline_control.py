"""Controlling pipeline executions, written with the SageMaker Python SDK v2 (`Pipeline`,
`PipelineSession`, steps) and boto3, on real containers: StopPipelineExecution while a processing
job runs, RetryPipelineExecution of a failed execution (only the failed step runs again),
ParallelismConfiguration (one step at a time against the default), SelectiveExecutionConfig (the
selected step runs again, the others' results come from the source execution), and a Tuning step
whose best model a later step creates through `get_top_model_s3_uri`.

The processing steps run fixtures/processing/slow.py (sleeps, then writes done.txt),
fixtures/pipelines/linger.py (sleeps; exits two seconds after SIGTERM) and
fixtures/pipelines/gate.py (fails until a `flag` object sits in its input prefix)."""

import os
import time
import uuid

import pytest

from support import REPO, docker_answers, unique
from test_pipelines import (INSTANCE, REGION, ROLE, job_name, make_pipeline_session, poll_step,
                            steps_by_name, wait_for)

SLOW = REPO / "fixtures" / "processing" / "slow.py"
LINGER = REPO / "fixtures" / "pipelines" / "linger.py"
GATE = REPO / "fixtures" / "pipelines" / "gate.py"
DIABETES = REPO / "fixtures" / "diabetes"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


@pytest.fixture(scope="module")
def pipeline_session(sdk_session, bucket):
    return make_pipeline_session(sdk_session.boto_session, bucket)


# ----- helpers -----

def execution_id(execution):
    return execution.arn.rsplit("/", 1)[1]


def jobs_of(sm, execution):
    """The processing jobs an execution created (their names hold its id), oldest first."""
    found = sm.list_processing_jobs(NameContains=execution_id(execution), SortBy="CreationTime",
                                    SortOrder="Ascending", MaxResults=100)
    return [j["ProcessingJobArn"] for j in found["ProcessingJobSummaries"]]


def wait_status(execution, statuses, timeout=120):
    """Polls DescribePipelineExecution until its status is one of `statuses` (the SDK's waiter
    knows only Succeeded and Failed)."""
    deadline = time.time() + timeout
    while True:
        d = execution.describe()
        if d["PipelineExecutionStatus"] in statuses:
            return d
        assert time.time() < deadline, (d, execution.list_steps())
        time.sleep(0.5)


def script_step(session, name, code, arguments=(), inputs=(), outputs=(), depends_on=None):
    """A ProcessingStep running `code` with python3 in the scikit-learn image."""
    from sagemaker.processing import ScriptProcessor
    from sagemaker.workflow.steps import ProcessingStep

    processor = ScriptProcessor(image_uri=SKLEARN_IMAGE, command=["python3"], role=ROLE,
                                instance_count=1, instance_type=INSTANCE, sagemaker_session=session)
    return ProcessingStep(name=name, depends_on=depends_on, step_args=processor.run(
        code=str(code), arguments=list(arguments) or None, inputs=list(inputs) or None,
        outputs=list(outputs) or None))


def build_gated_chain(session, bucket, gate_prefix):
    """A (slow.py, no sleep: writes done.txt to its output, at the SDK's default destination,
    which holds the execution id) → B (gate.py, reading A's output through a property reference
    and the objects under s3://bucket/gate_prefix/) → C (a Condition on B's job status, whose
    else branch is a Fail step)."""
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionEquals
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.pipeline import Pipeline

    step_a = script_step(session, "A", SLOW, arguments=["0"], outputs=[
        ProcessingOutput(output_name="out", source="/opt/ml/processing/out")])
    upstream = step_a.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri
    step_b = script_step(session, "B", GATE, inputs=[
        ProcessingInput(source=upstream, destination="/opt/ml/processing/upstream"),
        ProcessingInput(source="s3://%s/%s/" % (bucket, gate_prefix),
                        destination="/opt/ml/processing/gate")])
    step_c = ConditionStep(
        name="C", conditions=[ConditionEquals(left=step_b.properties.ProcessingJobStatus, right="Completed")],
        if_steps=[], else_steps=[FailStep(name="BDidNotComplete", error_message="no")])
    return Pipeline(name=unique("gated"), steps=[step_a, step_b, step_c], sagemaker_session=session)


def windows(execution):
    """{step name: (StartTime, EndTime)} in seconds."""
    return {n: (s["StartTime"].timestamp(), s["EndTime"].timestamp())
            for n, s in steps_by_name(execution).items()}


# ----- stop -----

def test_stop_while_a_processing_step_runs_stops_its_job_and_the_execution(pipeline_session, sm):
    from sagemaker.workflow.pipeline import Pipeline

    step_slow = script_step(pipeline_session, "Slow", LINGER, arguments=["120"])
    step_after = script_step(pipeline_session, "After", SLOW, arguments=["0"], depends_on=[step_slow])
    pipeline = Pipeline(name=unique("stopped"), steps=[step_slow, step_after],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()

    step = poll_step(execution, "Slow", lambda s: s["StepStatus"] == "Executing"
                     and "ProcessingJob" in s.get("Metadata", {}))
    job = job_name(step["Metadata"]["ProcessingJob"]["Arn"])
    assert sm.describe_processing_job(ProcessingJobName=job)["ProcessingJobStatus"] == "InProgress"

    sm.stop_pipeline_execution(PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex)
    # the container is still tidying up (two seconds) when the call answers
    assert execution.describe()["PipelineExecutionStatus"] == "Stopping"
    d = wait_status(execution, {"Stopped", "Failed", "Succeeded"})
    assert d["PipelineExecutionStatus"] == "Stopped", (d, execution.list_steps())

    steps = steps_by_name(execution)
    assert set(steps) == {"Slow"}, steps  # the step after it never started
    assert steps["Slow"]["StepStatus"] == "Stopped", steps
    assert "EndTime" in steps["Slow"]
    described = sm.describe_processing_job(ProcessingJobName=job)
    assert described["ProcessingJobStatus"] == "Stopped", described
    # stopping it again is allowed and changes nothing
    sm.stop_pipeline_execution(PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex)
    assert execution.describe()["PipelineExecutionStatus"] == "Stopped"


# ----- retry -----

def test_retry_runs_only_the_failed_step_again(pipeline_session, sm, s3, bucket):
    from sagemaker.workflow.selective_execution_config import SelectiveExecutionConfig

    gate = unique("gate")
    s3.put_object(Bucket=bucket, Key=gate + "/other.txt", Body=b"not the flag")
    pipeline = build_gated_chain(pipeline_session, bucket, gate)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    d = wait_for(execution)
    steps = steps_by_name(execution)
    assert d["PipelineExecutionStatus"] == "Failed", (d, steps)
    assert set(steps) == {"A", "B"}, steps
    assert (steps["A"]["StepStatus"], steps["B"]["StepStatus"]) == ("Succeeded", "Failed"), steps
    assert "no flag among other.txt" in steps["B"]["FailureReason"], steps
    a_job, b_job = (steps[n]["Metadata"]["ProcessingJob"]["Arn"] for n in ("A", "B"))
    assert jobs_of(sm, execution) == [a_job, b_job]

    # a selective execution from it that leaves B out: B has no succeeded result to lend, so it
    # fails there instead of running unselected
    only_c = pipeline.start(selective_execution_config=SelectiveExecutionConfig(
        source_pipeline_execution_arn=execution.arn, selected_steps=["C"]))
    d = wait_for(only_c)
    borrowed = steps_by_name(only_c)
    assert d["PipelineExecutionStatus"] == "Failed", (d, borrowed)
    assert set(borrowed) == {"A", "B"}, borrowed
    assert borrowed["A"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": execution.arn}
    assert borrowed["B"]["StepStatus"] == "Failed"
    assert "did not succeed in the source pipeline execution" in borrowed["B"]["FailureReason"]
    assert jobs_of(sm, only_c) == []

    # a Failed execution only; retried with the gate open
    s3.put_object(Bucket=bucket, Key=gate + "/flag", Body=b"go")
    sm.retry_pipeline_execution(PipelineExecutionArn=execution.arn, ClientRequestToken=uuid.uuid4().hex)
    d = wait_for(execution)
    steps = steps_by_name(execution)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, steps)
    assert "FailureReason" not in d
    assert set(steps) == {"A", "B", "C"}, steps
    assert {s["StepStatus"] for s in steps.values()} == {"Succeeded"}, steps
    assert steps["C"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert steps["A"]["Metadata"]["ProcessingJob"]["Arn"] == a_job
    retried = steps["B"]["Metadata"]["ProcessingJob"]["Arn"]
    assert retried != b_job
    assert jobs_of(sm, execution) == [a_job, b_job, retried]  # no second job for A

    # the retried B read A's output from the first run
    a_out = sm.describe_processing_job(ProcessingJobName=job_name(a_job))["ProcessingOutputConfig"]
    b_in = sm.describe_processing_job(ProcessingJobName=job_name(retried))["ProcessingInputs"]
    assert b_in[0]["S3Input"]["S3Uri"] == a_out["Outputs"][0]["S3Output"]["S3Uri"]

    # a Succeeded execution cannot be retried
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        sm.retry_pipeline_execution(PipelineExecutionArn=execution.arn,
                                    ClientRequestToken=uuid.uuid4().hex)
    assert e.value.response["Error"]["Code"] == "ConflictException"


# ----- parallelism -----

def test_max_parallel_execution_steps_one_runs_the_steps_one_at_a_time(pipeline_session):
    from sagemaker.workflow.parallelism_config import ParallelismConfiguration
    from sagemaker.workflow.pipeline import Pipeline

    names = ["Sleep1", "Sleep2", "Sleep3"]
    pipeline = Pipeline(name=unique("parallelism"),
                        steps=[script_step(pipeline_session, n, SLOW, arguments=["3"]) for n in names],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)
    # both at once: the limit is the execution's own
    serial = pipeline.start(parallelism_config=ParallelismConfiguration(1))
    parallel = pipeline.start()
    for execution in (serial, parallel):
        d = wait_for(execution)
        assert d["PipelineExecutionStatus"] == "Succeeded", (d, execution.list_steps())
    assert serial.describe()["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 1}

    spans = sorted(windows(serial).values())
    assert len(spans) == 3
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, spans

    spans = windows(parallel)
    assert set(spans) == set(names)
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values()), spans


# ----- selective execution -----

def test_selective_execution_runs_the_selected_step_on_the_source_results(pipeline_session, sm, s3, bucket):
    from sagemaker.workflow.selective_execution_config import SelectiveExecutionConfig

    gate = unique("gate")
    s3.put_object(Bucket=bucket, Key=gate + "/flag", Body=b"go")
    pipeline = build_gated_chain(pipeline_session, bucket, gate)
    pipeline.upsert(role_arn=ROLE)
    first = pipeline.start()
    d = wait_for(first)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, first.list_steps())
    first_steps = steps_by_name(first)
    a_job = first_steps["A"]["Metadata"]["ProcessingJob"]["Arn"]

    second = pipeline.start(selective_execution_config=SelectiveExecutionConfig(
        source_pipeline_execution_arn=first.arn, selected_steps=["B"]))
    d = wait_for(second)
    steps = steps_by_name(second)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, steps)
    assert d["SelectiveExecutionConfig"]["SourcePipelineExecutionArn"] == first.arn
    assert d["SelectiveExecutionConfig"]["SelectedSteps"] == [{"StepName": "B"}]
    # C, downstream of the selected step and not selected, does not run
    assert set(steps) == {"A", "B"}, steps
    assert steps["A"]["StepStatus"] == "Succeeded"
    assert steps["A"]["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": first.arn}
    assert steps["A"]["Metadata"]["ProcessingJob"]["Arn"] == a_job
    assert "SelectiveExecutionResult" not in steps["B"]
    b_job = steps["B"]["Metadata"]["ProcessingJob"]["Arn"]
    assert b_job != first_steps["B"]["Metadata"]["ProcessingJob"]["Arn"]
    assert jobs_of(sm, second) == [b_job]  # B only; A was not run

    # a step the definition lacks is refused at start
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        pipeline.start(selective_execution_config=SelectiveExecutionConfig(
            source_pipeline_execution_arn=first.arn, selected_steps=["Nope"]))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "Nope" in e.value.response["Error"]["Message"]

    # B read A's output as the source execution produced it (its path holds the first id)
    a_out = sm.describe_processing_job(ProcessingJobName=job_name(a_job))["ProcessingOutputConfig"]
    upstream = a_out["Outputs"][0]["S3Output"]["S3Uri"]
    assert execution_id(first) in upstream
    b_in = sm.describe_processing_job(ProcessingJobName=job_name(b_job))["ProcessingInputs"]
    assert b_in[0]["S3Input"]["S3Uri"] == upstream


# ----- tuning -----

def test_tuning_step_feeds_its_best_model_to_a_model_step(pipeline_session, sm, s3, bucket):
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.steps import TuningStep

    prefix = unique("tune")
    train = pipeline_session.upload_data(str(DIABETES / "train.csv"), bucket, prefix + "/train")
    validation = pipeline_session.upload_data(str(DIABETES / "test.csv"), bucket, prefix + "/validation")
    image = image_uris.retrieve("xgboost", REGION, "1.7-1")
    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type=INSTANCE,
                          output_path="s3://%s/%s/output" % (bucket, prefix),
                          sagemaker_session=pipeline_session,
                          hyperparameters={"num_round": 2, "objective": "reg:squarederror"})
    tuner = HyperparameterTuner(estimator, "validation:rmse", {"eta": ContinuousParameter(0.1, 0.5)},
                                objective_type="Minimize", strategy="Random", max_jobs=2,
                                max_parallel_jobs=2)
    step_tune = TuningStep(name="Tune", step_args=tuner.fit(
        {"train": TrainingInput(train, content_type="text/csv"),
         "validation": TrainingInput(validation, content_type="text/csv")},
        include_cls_metadata=False))
    best_model = step_tune.get_top_model_s3_uri(top_k=0, s3_bucket=bucket, prefix=prefix + "/output")
    model = Model(image_uri=image, model_data=best_model, role=ROLE, sagemaker_session=pipeline_session)
    step_model = ModelStep(name="BestModel", step_args=model.create(instance_type=INSTANCE))
    pipeline = Pipeline(name=unique("tuning"), steps=[step_tune, step_model],
                        sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)

    execution = pipeline.start()
    d = wait_for(execution)
    steps = steps_by_name(execution)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, steps)
    assert set(steps) == {"Tune", "BestModel-CreateModel"}, steps

    tuning_arn = steps["Tune"]["Metadata"]["TuningJob"]["Arn"]
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job_name(tuning_arn))
    assert tuning["HyperParameterTuningJobArn"] == tuning_arn
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert tuning["TrainingJobStatusCounters"]["Completed"] == 2
    best = tuning["BestTrainingJob"]["TrainingJobName"]

    # the model the next step created holds the best training job's artifacts
    model_arn = steps["BestModel-CreateModel"]["Metadata"]["Model"]["Arn"]
    created = sm.describe_model(ModelName=job_name(model_arn))
    expected = "s3://%s/%s/output/%s/output/model.tar.gz" % (bucket, prefix, best)
    assert created["PrimaryContainer"]["ModelDataUrl"] == expected
    artifacts = sm.describe_training_job(TrainingJobName=best)["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == expected
    assert s3.head_object(Bucket=bucket, Key=expected.split("/", 3)[3])["ContentLength"] > 0
