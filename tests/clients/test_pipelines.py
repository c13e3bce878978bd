"""SageMaker Pipelines end to end, written with the SageMaker Python SDK v2 (`Pipeline`,
`PipelineSession`) and run on real containers: a scikit-learn preprocessing step, a built-in XGBoost
training step, an evaluation step whose evaluation.json is a PropertyFile, and a condition on its
MSE that either registers the model, creates it and batch-transforms the test features, or ends in
a Fail step. Also step caching, a callback step completed through SendPipelineExecutionStepSuccess,
a Lambda step (which sagebox cannot run), and an execution that survives `kill -9` of sagebox.

The scripts the steps run are in fixtures/pipelines; the data is fixtures/diabetes (a regression
CSV, label first, no header)."""

import json
import os
import signal
import time

import pytest

from support import REPO, docker_answers, unique, wait_for_log

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
SCRIPTS = REPO / "fixtures" / "pipelines"
DIABETES = REPO / "fixtures" / "diabetes" / "train.csv"
# fixtures/diabetes/train.csv has 309 rows; preprocess.py splits them 70 / 15 / 15 by position.
TRAIN_ROWS, VALIDATION_ROWS, TEST_ROWS = 216, 46, 47
INSTANCE = "ml.m5.large"

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


def make_pipeline_session(boto_session, bucket):
    """A PipelineSession (the SDK's job calls only build step arguments) with the SDK's telemetry
    off, so no step definition tries to reach AWS's telemetry bucket."""
    from sagemaker.workflow.pipeline_context import PipelineSession

    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    return PipelineSession(boto_session=boto_session, default_bucket=bucket, sagemaker_config=config)


@pytest.fixture(scope="module")
def pipeline_session(sdk_session, bucket):
    """A PipelineSession on the shared server."""
    return make_pipeline_session(sdk_session.boto_session, bucket)


# ----- helpers -----

def steps_by_name(execution):
    """ListPipelineExecutionSteps as {step name: step}; each step runs once per execution."""
    steps = execution.list_steps()
    by_name = {s["StepName"]: s for s in steps}
    assert len(by_name) == len(steps), steps
    return by_name


def wait_for(execution, attempts=150):
    """The SDK's own waiter, polling every 2 s instead of its default 30 s; returns the final
    DescribePipelineExecution (the waiter raises on Failed, which some tests expect)."""
    from botocore.exceptions import WaiterError

    try:
        execution.wait(delay=2, max_attempts=attempts)
    except WaiterError:
        pass
    return execution.describe()


def poll_step(execution, step_name, until, timeout=240):
    """Polls ListPipelineExecutionSteps until `until(step)` holds for the named step."""
    deadline = time.time() + timeout
    while True:
        step = steps_by_name(execution).get(step_name)
        if step is not None and until(step):
            return step
        assert time.time() < deadline, (step_name, step, execution.describe())
        time.sleep(0.5)


def job_name(arn):
    return arn.rsplit("/", 1)[1]


def s3_text(s3, uri):
    bucket, _, key = uri[len("s3://"):].partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def s3_keys(s3, uri):
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def processing_job_count(sm):
    pages = sm.get_paginator("list_processing_jobs").paginate()
    return sum(len(p["ProcessingJobSummaries"]) for p in pages)


# ----- the model-building pipeline -----

def build_model_pipeline(session, bucket, prefix, group):
    """Preprocess → Train → Evaluate → CheckMse, then RegisterModel + CreateModel + Transform when
    the MSE is at most MseThreshold, else MseTooHigh (a Fail step). Returns the Pipeline."""
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.sklearn.processing import SKLearnProcessor
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TransformStep

    raw = session.upload_data(str(DIABETES), bucket, prefix + "/raw")
    threshold = ParameterFloat(name="MseThreshold", default_value=1e9)
    approval = ParameterString(name="ModelApprovalStatus", default_value="Approved")
    xgb_image = image_uris.retrieve("xgboost", REGION, "1.7-1")

    sklearn = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type=INSTANCE,
                               instance_count=1, sagemaker_session=session)
    step_process = ProcessingStep(
        name="Preprocess",
        step_args=sklearn.run(
            code=str(SCRIPTS / "preprocess.py"),
            inputs=[ProcessingInput(source=raw, destination="/opt/ml/processing/input")],
            # fixed destinations (the SDK's default ones hold the execution id), so the step's
            # arguments are the same in every execution and its cache entry can match
            outputs=[ProcessingOutput(output_name=n, source="/opt/ml/processing/" + n,
                                      destination="s3://%s/%s/preprocessed/%s" % (bucket, prefix, n))
                     for n in ("train", "validation", "test", "test_features")],
        ),
        cache_config=CacheConfig(enable_caching=True, expire_after="PT1H"),
    )
    outputs = {n: step_process.properties.ProcessingOutputConfig.Outputs[n].S3Output.S3Uri
               for n in ("train", "validation", "test", "test_features")}

    estimator = Estimator(image_uri=xgb_image, role=ROLE, instance_count=1, instance_type=INSTANCE,
                          output_path="s3://%s/%s/model" % (bucket, prefix), sagemaker_session=session,
                          hyperparameters={"num_round": 10, "max_depth": 3,
                                           "objective": "reg:squarederror"})
    step_train = TrainingStep(name="Train", step_args=estimator.fit(
        {c: TrainingInput(outputs[c], content_type="text/csv") for c in ("train", "validation")}))

    evaluation = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluator = ScriptProcessor(image_uri=xgb_image, command=["python3"], role=ROLE, instance_count=1,
                                instance_type=INSTANCE, sagemaker_session=session)
    step_eval = ProcessingStep(
        name="Evaluate",
        step_args=evaluator.run(
            code=str(SCRIPTS / "evaluate.py"),
            inputs=[ProcessingInput(source=step_train.properties.ModelArtifacts.S3ModelArtifacts,
                                    destination="/opt/ml/processing/model"),
                    ProcessingInput(source=outputs["test"], destination="/opt/ml/processing/test")],
            outputs=[ProcessingOutput(output_name="evaluation",
                                      source="/opt/ml/processing/evaluation")],
        ),
        property_files=[evaluation],
    )

    model = Model(image_uri=xgb_image, model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
                  role=ROLE, sagemaker_session=session)
    step_register = ModelStep(name="RegisterModel", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=[INSTANCE],
        transform_instances=[INSTANCE], model_package_group_name=group, approval_status=approval))
    step_create = ModelStep(name="CreateModel", step_args=model.create(instance_type=INSTANCE))
    transformer = Transformer(model_name=step_create.properties.ModelName, instance_count=1,
                              instance_type=INSTANCE, accept="text/csv", assemble_with="Line",
                              output_path="s3://%s/%s/transform" % (bucket, prefix),
                              sagemaker_session=session)
    step_transform = TransformStep(name="Transform", step_args=transformer.transform(
        data=outputs["test_features"], content_type="text/csv", split_type="Line"))

    step_fail = FailStep(name="MseTooHigh", error_message=Join(on=" ", values=["MSE above", threshold]))
    step_check = ConditionStep(
        name="CheckMse",
        conditions=[ConditionLessThanOrEqualTo(
            left=JsonGet(step_name=step_eval.name, property_file=evaluation,
                         json_path="regression_metrics.mse.value"),
            right=threshold)],
        if_steps=[step_register, step_create, step_transform],
        else_steps=[step_fail],
    )
    return Pipeline(name=unique("model-pipeline"), parameters=[threshold, approval],
                    steps=[step_process, step_train, step_eval, step_check], sagemaker_session=session)


def check_true_branch(sm, s3, execution, group):
    """The first execution: every job ran, each step fed the next, the model was registered as
    version 1 of the group, created, and batch-transformed the test features."""
    steps = steps_by_name(execution)
    assert set(steps) == {"Preprocess", "Train", "Evaluate", "CheckMse", "RegisterModel-RegisterModel",
                          "CreateModel-CreateModel", "Transform"}
    assert {s["StepStatus"] for s in steps.values()} == {"Succeeded"}, steps
    assert "CacheHitResult" not in steps["Preprocess"]
    assert steps["CheckMse"]["Metadata"]["Condition"]["Outcome"] == "True"

    process = sm.describe_processing_job(
        ProcessingJobName=job_name(steps["Preprocess"]["Metadata"]["ProcessingJob"]["Arn"]))
    assert process["ProcessingJobStatus"] == "Completed"
    produced = {o["OutputName"]: o["S3Output"]["S3Uri"]
                for o in process["ProcessingOutputConfig"]["Outputs"]}
    rows = {n: len(s3_text(s3, "%s/%s.csv" % (produced[n], n)).splitlines())
            for n in ("train", "validation", "test", "test_features")}
    assert rows == {"train": TRAIN_ROWS, "validation": VALIDATION_ROWS, "test": TEST_ROWS,
                    "test_features": TEST_ROWS}

    # the training job read what the preprocessing step wrote (a property reference, resolved)
    train = sm.describe_training_job(
        TrainingJobName=job_name(steps["Train"]["Metadata"]["TrainingJob"]["Arn"]))
    assert train["TrainingJobStatus"] == "Completed"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in train["InputDataConfig"]}
    assert channels == {"train": produced["train"], "validation": produced["validation"]}
    assert train["HyperParameters"]["objective"] == "reg:squarederror"
    artifacts = train["ModelArtifacts"]["S3ModelArtifacts"]

    evaluate = sm.describe_processing_job(
        ProcessingJobName=job_name(steps["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"]))
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in evaluate["ProcessingInputs"]}
    assert (inputs["input-1"], inputs["input-2"]) == (artifacts, produced["test"])
    (report_uri,) = [o["S3Output"]["S3Uri"] for o in evaluate["ProcessingOutputConfig"]["Outputs"]]
    mse = json.loads(s3_text(s3, report_uri + "/evaluation.json"))["regression_metrics"]["mse"]["value"]
    assert 100 < mse < 20000  # diabetes targets run 25..346; ten rounds of depth 3 get close

    # the registered package: version 1 of the group, approved, pointing at the trained model
    (package,) = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    registered = steps["RegisterModel-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    assert registered == package["ModelPackageArn"]
    assert (package["ModelPackageVersion"], package["ModelApprovalStatus"]) == (1, "Approved")
    described = sm.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    (container,) = described["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == artifacts
    assert described["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]

    # one prediction per test row, from the model the pipeline created
    transform = sm.describe_transform_job(
        TransformJobName=job_name(steps["Transform"]["Metadata"]["TransformJob"]["Arn"]))
    assert transform["TransformJobStatus"] == "Completed"
    created = sm.describe_model(ModelName=transform["ModelName"])
    assert created["ModelArn"] == steps["CreateModel-CreateModel"]["Metadata"]["Model"]["Arn"]
    assert created["PrimaryContainer"]["ModelDataUrl"] == artifacts
    assert transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == produced["test_features"]
    out = transform["TransformOutput"]["S3OutputPath"]
    assert [k.rsplit("/", 1)[1] for k in s3_keys(s3, out + "/")] == ["test_features.csv.out"]
    predictions = [float(line) for line in s3_text(s3, out + "/test_features.csv.out").splitlines()]
    assert len(predictions) == TEST_ROWS and all(0 < p < 400 for p in predictions)

    # PipelineExperimentConfig (the SDK's default: the pipeline's name, the execution's id): the
    # execution's trial exists, and the steps' training and processing jobs joined it as trial
    # components, with their inputs and outputs as artifacts
    pipeline_name, execution_id = execution.arn.split("/")[1], execution.arn.rsplit("/", 1)[1]
    assert train["ExperimentConfig"] == {"ExperimentName": pipeline_name, "TrialName": execution_id}
    assert process["ExperimentConfig"] == train["ExperimentConfig"]
    assert sm.describe_trial(TrialName=execution_id)["ExperimentName"] == pipeline_name
    members = {c["TrialComponentName"] for c in
               sm.list_trial_components(TrialName=execution_id)["TrialComponentSummaries"]}
    assert members == {"%s-aws-training-job" % train["TrainingJobName"],
                       "%s-aws-processing-job" % process["ProcessingJobName"],
                       "%s-aws-processing-job" % evaluate["ProcessingJobName"]}
    tc = sm.describe_trial_component(TrialComponentName="%s-aws-processing-job" % process["ProcessingJobName"])
    assert tc["Source"] == {"SourceArn": process["ProcessingJobArn"], "SourceType": "SageMakerProcessingJob"}
    assert tc["Status"]["PrimaryStatus"] == "Completed"
    assert {k: v["Value"] for k, v in tc["OutputArtifacts"].items()} == produced
    tc = sm.describe_trial_component(TrialComponentName="%s-aws-training-job" % train["TrainingJobName"])
    assert tc["OutputArtifacts"] == {"SageMaker.ModelArtifact": {"Value": artifacts}}


def check_false_branch(sm, execution, first, group):
    """The second execution (MseThreshold 0): the Fail step ended it with the joined message, the
    preprocessing step came from the first execution's cache entry, and nothing was registered."""
    steps = steps_by_name(execution)
    assert set(steps) == {"Preprocess", "Train", "Evaluate", "CheckMse", "MseTooHigh"}
    assert steps["CheckMse"]["StepStatus"] == "Succeeded"
    assert steps["CheckMse"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["MseTooHigh"]["StepStatus"] == "Failed"
    assert steps["MseTooHigh"]["Metadata"]["Fail"]["ErrorMessage"] in ("MSE above 0.0", "MSE above 0")
    parameters = execution.list_parameters()["PipelineParameters"]
    assert {"Name": "MseThreshold", "Value": "0.0"} in parameters

    assert steps["Preprocess"]["StepStatus"] == "Succeeded"
    assert steps["Preprocess"]["CacheHitResult"]["SourcePipelineExecutionArn"] == first.arn
    evaluated = steps["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"]
    assert evaluated != steps_by_name(first)["Evaluate"]["Metadata"]["ProcessingJob"]["Arn"]

    packages = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageVersion"] for p in packages] == [1]


def test_model_pipeline_registers_and_transforms_then_fails_through_its_fail_step(
        pipeline_session, sm, s3, bucket):
    group = unique("diabetes-models")
    pipeline = build_model_pipeline(pipeline_session, bucket, unique("model"), group)
    sm.create_model_package_group(ModelPackageGroupName=group)
    pipeline.upsert(role_arn=ROLE)

    # the condition holds: the default threshold is huge
    first = pipeline.start()
    d = wait_for(first)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, first.list_steps())
    check_true_branch(sm, s3, first, group)

    # a threshold no MSE meets; the unchanged preprocessing step is not run again
    jobs_before = processing_job_count(sm)
    second = pipeline.start(parameters={"MseThreshold": 0.0})
    d = wait_for(second)
    assert d["PipelineExecutionStatus"] == "Failed", (d, second.list_steps())
    check_false_branch(sm, second, first, group)
    assert processing_job_count(sm) == jobs_before + 1  # Evaluate's job; none for Preprocess

    summaries = sm.list_pipeline_executions(PipelineName=pipeline.name)["PipelineExecutionSummaries"]
    assert {(s["PipelineExecutionArn"], s["PipelineExecutionStatus"]) for s in summaries} == {
        (first.arn, "Succeeded"), (second.arn, "Failed")}


# ----- callback and Lambda steps -----

QUEUE = "https://sqs.us-east-1.amazonaws.com/000000000000/model-reviews"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:000000000000:function:notify-reviewers"


def build_callback_pipeline(session):
    """AwaitReview (a Callback step with output `verdict`) → CheckVerdict: verdict == "ship" ends
    the execution, anything else reaches Rejected, a Fail step that quotes the verdict."""
    from sagemaker.workflow.callback_step import CallbackOutput, CallbackOutputTypeEnum, CallbackStep
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionEquals
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.parameters import ParameterString
    from sagemaker.workflow.pipeline import Pipeline

    model = ParameterString(name="ReviewedModel", default_value="diabetes-xgb")
    step_wait = CallbackStep(
        name="AwaitReview", sqs_queue_url=QUEUE, inputs={"model": model, "stage": "review"},
        outputs=[CallbackOutput(output_name="verdict", output_type=CallbackOutputTypeEnum.String)])
    verdict = step_wait.properties.Outputs["verdict"]
    step_check = ConditionStep(
        name="CheckVerdict", conditions=[ConditionEquals(left=verdict, right="ship")], if_steps=[],
        else_steps=[FailStep(name="Rejected",
                             error_message=Join(on=" ", values=["reviewer said", verdict]))])
    return Pipeline(name=unique("review-pipeline"), parameters=[model], steps=[step_wait, step_check],
                    sagemaker_session=session)


def review(sm, execution, verdict):
    """Waits for the callback step to hand out its token, then completes it with `verdict`."""
    step = poll_step(execution, "AwaitReview",
                     lambda s: "CallbackToken" in s.get("Metadata", {}).get("Callback", {}))
    assert step["StepStatus"] == "Executing"
    assert step["Metadata"]["Callback"]["SqsQueueUrl"] == QUEUE
    answer = sm.send_pipeline_execution_step_success(
        CallbackToken=step["Metadata"]["Callback"]["CallbackToken"],
        OutputParameters=[{"Name": "verdict", "Value": verdict}])
    assert answer["PipelineExecutionArn"] == execution.arn


def test_callback_step_is_completed_by_send_pipeline_execution_step_success(pipeline_session, sm):
    pipeline = build_callback_pipeline(pipeline_session)
    pipeline.upsert(role_arn=ROLE)

    shipped = pipeline.start()
    review(sm, shipped, "ship")
    d = wait_for(shipped, attempts=60)
    steps = steps_by_name(shipped)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, steps)
    assert set(steps) == {"AwaitReview", "CheckVerdict"}
    assert steps["AwaitReview"]["StepStatus"] == "Succeeded"
    assert steps["AwaitReview"]["Metadata"]["Callback"]["OutputParameters"] == [
        {"Name": "verdict", "Value": "ship"}]
    assert steps["CheckVerdict"]["Metadata"]["Condition"]["Outcome"] == "True"

    # the callback's output is what the next steps see: another verdict takes the other branch
    held = pipeline.start(parameters={"ReviewedModel": "diabetes-xgb-v2"})
    review(sm, held, "hold")
    d = wait_for(held, attempts=60)
    steps = steps_by_name(held)
    assert d["PipelineExecutionStatus"] == "Failed", (d, steps)
    assert steps["CheckVerdict"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert steps["Rejected"]["StepStatus"] == "Failed"
    assert steps["Rejected"]["Metadata"]["Fail"]["ErrorMessage"] == "reviewer said hold"


def test_lambda_step_fails_with_a_reason_naming_lambda(pipeline_session):
    from sagemaker.lambda_helper import Lambda
    from sagemaker.workflow.lambda_step import LambdaOutput, LambdaOutputTypeEnum, LambdaStep
    from sagemaker.workflow.pipeline import Pipeline

    step = LambdaStep(name="NotifyReviewers",
                      lambda_func=Lambda(function_arn=LAMBDA_ARN, session=pipeline_session),
                      inputs={"model": "diabetes-xgb"},
                      outputs=[LambdaOutput(output_name="sent", output_type=LambdaOutputTypeEnum.Boolean)])
    pipeline = Pipeline(name=unique("lambda-pipeline"), steps=[step], sagemaker_session=pipeline_session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    d = wait_for(execution, attempts=60)
    steps = steps_by_name(execution)
    assert d["PipelineExecutionStatus"] == "Failed", (d, steps)
    assert steps["NotifyReviewers"]["StepStatus"] == "Failed"
    assert "Lambda" in steps["NotifyReviewers"]["FailureReason"], steps


# ----- an execution outlives sagebox -----

def test_execution_interrupted_by_kill_resumes_after_restart(spawn_sagebox, client_factory, monkeypatch):
    """kill -9 while the first step's processing job runs; the restarted server adopts that job
    (no second job) and drives the execution on to its end."""
    import boto3
    from sagemaker.processing import ProcessingOutput, ScriptProcessor
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionEquals
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.pipeline import Pipeline, _PipelineExecution
    from sagemaker.workflow.steps import ProcessingStep

    server = spawn_sagebox()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", REGION), ("SAGEMAKER_SUPPRESS_V2_WARNING", "1")):
        monkeypatch.setenv(key, value)
    s3 = client_factory("s3", server.url)
    bucket = unique("restart")
    s3.create_bucket(Bucket=bucket)
    session = make_pipeline_session(boto3.Session(region_name=REGION), bucket)

    sleeper = ScriptProcessor(image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                              "sagemaker-scikit-learn:1.2-1-cpu-py3", command=["python3"], role=ROLE,
                              instance_count=1, instance_type=INSTANCE, sagemaker_session=session)
    step_slow = ProcessingStep(name="Slow", step_args=sleeper.run(
        code=str(REPO / "fixtures" / "processing" / "slow.py"), arguments=["12"],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out",
                                  destination="s3://%s/slow/out" % bucket)]))
    # a step after the interrupted one, reading its outcome: the restarted server must get there
    step_check = ConditionStep(
        name="SlowCompleted",
        conditions=[ConditionEquals(left=step_slow.properties.ProcessingJobStatus, right="Completed")],
        if_steps=[], else_steps=[FailStep(name="SlowDidNotComplete", error_message="no")])
    pipeline = Pipeline(name=unique("restart-pipeline"), steps=[step_slow, step_check],
                        sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()

    step = poll_step(execution, "Slow", lambda s: s["StepStatus"] == "Executing"
                     and "ProcessingJob" in s.get("Metadata", {}))
    job_arn = step["Metadata"]["ProcessingJob"]["Arn"]
    sm = client_factory("sagemaker", server.url)
    running = sm.describe_processing_job(ProcessingJobName=job_name(job_arn))
    assert running["ProcessingJobStatus"] == "InProgress"
    # Killed once the job's container runs (InProgress comes first, while the container is
    # still being made; a job killed then has nothing to adopt and fails, saying so).
    wait_for_log(client_factory("logs", server.url), running["ProcessingJobName"], "slow: sleeping",
                 kind="Processing")
    server.restart(signal.SIGKILL)

    # fresh clients: the old connections died with the server
    sm, s3 = client_factory("sagemaker", server.url), client_factory("s3", server.url)
    session = make_pipeline_session(boto3.Session(region_name=REGION), bucket)
    execution = _PipelineExecution(arn=execution.arn, sagemaker_session=session)
    d = wait_for(execution, attempts=90)
    steps = steps_by_name(execution)
    assert d["PipelineExecutionStatus"] == "Succeeded", (d, steps)
    assert steps["Slow"]["StepStatus"] == "Succeeded"
    assert steps["Slow"]["Metadata"]["ProcessingJob"]["Arn"] == job_arn
    assert steps["SlowCompleted"]["Metadata"]["Condition"]["Outcome"] == "True"
    (job,) = sm.list_processing_jobs()["ProcessingJobSummaries"]
    assert (job["ProcessingJobArn"], job["ProcessingJobStatus"]) == (job_arn, "Completed")
    assert s3.get_object(Bucket=bucket, Key="slow/out/done.txt")["Body"].read() == b"done"
