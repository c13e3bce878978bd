"""A SageMaker Experiments run logged from inside a training job, the way the SDK documents it: the
notebook opens `with Run(...)` and calls `estimator.fit()` inside it, so the job carries the run in
its ExperimentConfig (RunName); the training script, with `sagemaker` in its requirements.txt,
calls `load_run()` with no arguments, which finds the job through TRAINING_JOB_ARN, reads the
run from DescribeTrainingJob and logs parameters and metrics to the same trial component through
the `sagemaker` and `sagemaker-metrics` APIs from inside the container. `ExperimentAnalytics`
then reads back what the notebook and the job logged, side by side.

Containers are offline: the SDK comes from a wheelhouse filled here by `sagebox wheels add`
(the host's pip), and one private sagebox serves the module with `--wheelhouse DIR`."""

import os
import subprocess

import pytest

from support import docker_answers, sagebox_binary, sdk_session_on, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
LOSSES = [0.5, 0.25, 0.125]

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")

TRAIN = '''
import os

import boto3
from sagemaker.experiments.run import load_run
from sagemaker.session import Session

session = Session(boto3.Session(region_name=os.environ["AWS_REGION"]))
with load_run(sagemaker_session=session) as run:
    run.log_parameter("inside", "the-job")
    run.log_parameter("job_arn", os.environ["TRAINING_JOB_ARN"])
    for step, loss in enumerate(%r):
        run.log_metric("train:loss", loss, step=step)
print("logged to", run.run_name, "of", run.experiment_name, flush=True)
os.makedirs("/opt/ml/model", exist_ok=True)
open("/opt/ml/model/done.txt", "w").write("ok")
''' % (LOSSES,)


def sdk_version():
    from importlib.metadata import version

    return version("sagemaker")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """The SDK this suite runs, with its dependencies, as wheels for the images' Pythons."""
    house = tmp_path_factory.mktemp("sdk") / "wheelhouse"
    proc = subprocess.run([str(sagebox_binary()), "wheels", "add", "--wheelhouse", str(house),
                           "sagemaker==%s" % sdk_version()], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return house


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, wheelhouse):
    from sagebox.pytest_plugin import Servers

    servers = Servers(request.config, tmp_path_factory)
    yield servers.start("experiments-job-sagebox", ["--wheelhouse", str(wheelhouse)])
    servers.end()


@pytest.fixture(scope="module")
def session(server):
    pytest.importorskip("sagemaker")
    yield from sdk_session_on(server.url, unique("expjob"), create_bucket=True)


def test_load_run_inside_a_training_job_logs_to_the_notebooks_run(session, tmp_path):
    from sagemaker.analytics import ExperimentAnalytics
    from sagemaker.experiments.run import Run
    from sagemaker.sklearn import SKLearn

    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "requirements.txt").write_text("sagemaker==%s\n" % sdk_version())
    bucket = session.default_bucket()
    est = SKLearn(entry_point="train.py", source_dir=str(code), framework_version="1.2-1", py_version="py3",
                  role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session,
                  output_path="s3://%s/output" % bucket, code_location="s3://%s/code" % bucket)
    experiment = unique("expjob")
    with Run(experiment_name=experiment, run_name="in-job", sagemaker_session=session) as run:
        run.log_parameter("outside", "the-notebook")
        est.fit(wait=True, logs=False)
    job = est.latest_training_job.name
    sm = session.sagemaker_client
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    tc_name = "%s-in-job" % experiment
    assert described["ExperimentConfig"] == {"ExperimentName": experiment, "RunName": tc_name,
                                             "TrialName": "Default-Run-Group-%s" % experiment}

    tc = sm.describe_trial_component(TrialComponentName=tc_name)
    assert tc["Parameters"] == {"outside": {"StringValue": "the-notebook"},
                                "inside": {"StringValue": "the-job"},
                                "job_arn": {"StringValue": described["TrainingJobArn"]}}
    [loss] = [m for m in tc["Metrics"] if m["MetricName"] == "train:loss"]
    assert (loss["Count"], loss["Min"], loss["Max"], loss["Last"]) == (3, 0.125, 0.5, 0.125)
    assert tc["Status"]["PrimaryStatus"] == "Completed"

    frame = ExperimentAnalytics(experiment_name=experiment, sagemaker_session=session).dataframe()
    row = frame[frame["TrialComponentName"] == tc_name]
    assert len(row) == 1, frame.to_dict("records")
    row = row.iloc[0]
    assert row["outside"] == "the-notebook" and row["inside"] == "the-job"
    assert row["train:loss - Min"] == 0.125 and row["train:loss - Last"] == 0.125
    assert row["train:loss - Count"] == 3

    # the job's own trial component sits in the run's group beside the run
    trial = sm.describe_trial(TrialName="Default-Run-Group-%s" % experiment)
    members = {s["TrialComponentName"] for s in
               sm.list_trial_components(TrialName=trial["TrialName"])["TrialComponentSummaries"]}
    assert members == {tc_name, "%s-aws-training-job" % job}
