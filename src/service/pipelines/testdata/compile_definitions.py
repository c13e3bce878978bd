"""Compiles the sample pipeline definitions in this folder with the SageMaker Python SDK v2.

The SDK uploads code and asks for a default bucket while it compiles, so it needs a running
sagebox: `AWS_ENDPOINT_URL=http://127.0.0.1:PORT .venv/bin/python <this file>`. Each pipeline
is written as <name>.json beside this file, exactly as `Pipeline.definition()` returns it.
"""
import json
import os
import pathlib

import boto3
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput, TransformInput
from sagemaker.model import Model
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.transformer import Transformer
from sagemaker.tuner import HyperparameterTuner, IntegerParameter, ContinuousParameter
from sagemaker.lambda_helper import Lambda
from sagemaker.workflow.callback_step import CallbackStep, CallbackOutput, CallbackOutputTypeEnum
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import (
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
)
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.lambda_step import LambdaStep, LambdaOutput, LambdaOutputTypeEnum
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import (
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
)
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import (
    CacheConfig,
    ProcessingStep,
    TrainingStep,
    TransformStep,
    TuningStep,
)

HERE = pathlib.Path(__file__).parent
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"


def session():
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    boto_session = boto3.Session(region_name=REGION)
    boto_session.client("s3").create_bucket(Bucket="lang-defs")
    return PipelineSession(boto_session=boto_session, default_bucket="lang-defs")


def full_pipeline(sess):
    """Every step type and expression form the brief names, in one pipeline."""
    instance_type = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge",
                                    enum_values=["ml.m5.xlarge", "ml.m5.large"])
    instance_count = ParameterInteger("ProcessingInstanceCount", default_value=1)
    threshold = ParameterFloat("AccuracyThreshold", default_value=0.7)
    register = ParameterBoolean("RegisterModel", default_value=True)
    input_data = ParameterString("InputData", default_value="s3://lang-defs/abalone/abalone.csv")
    approval = ParameterString("ModelApprovalStatus")

    cache = CacheConfig(enable_caching=True, expire_after="PT1H")
    processor = SKLearnProcessor(framework_version="1.2-1", role=ROLE, instance_type=instance_type,
                                 instance_count=instance_count, sagemaker_session=sess,
                                 base_job_name="prep")
    evaluation = PropertyFile(name="EvaluationReport", output_name="evaluation",
                              path="evaluation.json")
    prep_args = processor.run(
        code=str(HERE / "preprocess.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[
            ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
            ProcessingOutput(output_name="test", source="/opt/ml/processing/test"),
            ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation",
                             destination=Join(on="/", values=["s3://lang-defs",
                                                              ExecutionVariables.PIPELINE_EXECUTION_ID,
                                                              "evaluation"])),
        ],
        arguments=["--threshold", threshold.to_string()],
    )
    step_process = ProcessingStep(
        name="Prep", step_args=prep_args, property_files=[evaluation], cache_config=cache,
        retry_policies=[
            StepRetryPolicy(exception_types=[StepExceptionTypeEnum.SERVICE_FAULT,
                                             StepExceptionTypeEnum.THROTTLING],
                            interval_seconds=2, backoff_rate=1.5, max_attempts=3),
            SageMakerJobStepRetryPolicy(
                exception_types=[SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT],
                failure_reason_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR],
                expire_after_mins=30),
        ],
        display_name="Preprocess", description="Splits the data")

    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    xgb = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                    output_path=Join(on="/", values=["s3://lang-defs", ExecutionVariables.PIPELINE_NAME,
                                                     "model"]),
                    sagemaker_session=sess, hyperparameters={"max_depth": 5, "num_round": 10})
    train_args = xgb.fit(inputs={
        "train": TrainingInput(
            s3_data=step_process.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
            content_type="text/csv"),
    })
    step_train = TrainingStep(name="Train", step_args=train_args,
                              cache_config=CacheConfig(enable_caching=True, expire_after="P30D"))

    tuner = HyperparameterTuner(xgb, objective_metric_name="validation:rmse",
                                hyperparameter_ranges={"max_depth": IntegerParameter(2, 8),
                                                       "eta": ContinuousParameter(0.1, 0.5)},
                                max_jobs=2, max_parallel_jobs=1, objective_type="Minimize",
                                metric_definitions=[{"Name": "validation:rmse",
                                                     "Regex": "rmse: ([0-9.]+)"}])
    tune_args = tuner.fit(inputs={
        "train": TrainingInput(
            s3_data=step_process.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri,
            content_type="text/csv"),
        "validation": TrainingInput(
            s3_data=step_process.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri,
            content_type="text/csv"),
    })
    step_tune = TuningStep(name="Tune", step_args=tune_args)

    model = Model(image_uri=image, model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
                  role=ROLE, sagemaker_session=sess)
    register_args = model.register(content_types=["text/csv"], response_types=["text/csv"],
                                   inference_instances=["ml.m5.large"],
                                   transform_instances=["ml.m5.large"],
                                   model_package_group_name="AbaloneGroup",
                                   approval_status=approval)
    step_register = ModelStep(name="Register", step_args=register_args)
    step_create = ModelStep(name="Create", step_args=model.create(instance_type="ml.m5.large"))

    transformer = Transformer(model_name=step_create.properties.ModelName, instance_count=1,
                              instance_type="ml.m5.large",
                              output_path="s3://lang-defs/transform", sagemaker_session=sess)
    step_transform = TransformStep(
        name="Transform",
        step_args=transformer.transform(
            data=step_process.properties.ProcessingOutputConfig.Outputs["test"].S3Output.S3Uri,
            content_type="text/csv"))

    step_fail = FailStep(name="Fail", error_message=Join(
        on=" ", values=["Accuracy below", threshold, "in", ExecutionVariables.PIPELINE_EXECUTION_ARN]))

    step_callback = CallbackStep(
        name="Approve", sqs_queue_url="https://sqs.us-east-1.amazonaws.com/000000000000/approvals",
        inputs={"model": step_train.properties.ModelArtifacts.S3ModelArtifacts},
        outputs=[CallbackOutput(output_name="approved", output_type=CallbackOutputTypeEnum.Boolean),
                 CallbackOutput(output_name="note")],
        depends_on=[step_train])
    step_lambda = LambdaStep(
        name="Notify",
        lambda_func=Lambda(function_arn="arn:aws:lambda:us-east-1:000000000000:function:notify",
                           session=sess),
        inputs={"approved": step_callback.properties.Outputs["approved"],
                "best": step_tune.properties.BestTrainingJob.TrainingJobName,
                "depth": step_train.properties.HyperParameters["max_depth"]},
        outputs=[LambdaOutput(output_name="status", output_type=LambdaOutputTypeEnum.String)])

    accuracy = JsonGet(step_name=step_process.name, property_file=evaluation,
                       json_path="metrics.accuracy.value")
    step_cond = ConditionStep(
        name="CheckAccuracy",
        conditions=[
            ConditionGreaterThanOrEqualTo(left=accuracy, right=threshold),
            ConditionIn(value=instance_type, in_values=["ml.m5.xlarge", "ml.m5.large"]),
            ConditionNot(expression=ConditionEquals(left=register, right=False)),
            ConditionOr(conditions=[
                ConditionGreaterThan(left=step_tune.properties.TrainingJobSummaries[0]
                                     .FinalHyperParameterTuningJobObjectiveMetric.Value, right=0),
                ConditionLessThan(left=instance_count, right=10),
                ConditionLessThanOrEqualTo(left=step_lambda.properties.Outputs["status"],
                                           right="ok"),
            ]),
        ],
        if_steps=[step_register, step_create, step_transform],
        else_steps=[step_fail],
        depends_on=[step_callback])

    return Pipeline(
        name="Abalone",
        parameters=[instance_type, instance_count, threshold, register, input_data, approval],
        steps=[step_process, step_train, step_tune, step_callback, step_lambda, step_cond],
        sagemaker_session=sess)


def minimal_pipeline(sess):
    """A pipeline of one Fail step whose message joins parameters and execution variables."""
    name = ParameterString("Who", default_value="world")
    count = ParameterInteger("Count", default_value=3)
    ratio = ParameterFloat("Ratio", default_value=0.5)
    flag = ParameterBoolean("Flag", default_value=False)
    fail = FailStep(name="Hello", error_message=Join(
        on=",", values=["hello", name, count, ratio, flag, ExecutionVariables.START_DATETIME]))
    return Pipeline(name="Minimal", parameters=[name, count, ratio, flag], steps=[fail],
                    sagemaker_session=sess)


def main():
    sess = session()
    (HERE / "preprocess.py").exists() or (HERE / "preprocess.py").write_text("print('prep')\n")
    for name, build in [("full", full_pipeline), ("minimal", minimal_pipeline)]:
        definition = json.loads(build(sess).definition())
        (HERE / f"{name}.json").write_text(json.dumps(definition, indent=2) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
