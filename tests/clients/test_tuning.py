"""Hyperparameter tuning jobs with real training jobs, driven by the SageMaker Python SDK
(HyperparameterTuner over the built-in XGBoost, analytics, deploy), boto3 and the AWS CLI: the
strategies' training jobs (Grid: exactly its combinations), the counters and best training job,
early stopping, warm start, StopHyperParameterTuningJob, listing, and refusals in SageMaker's
words.

Most jobs here run fixtures/byo in mode `metrics` (it prints a few lines and exits). Its first
line names the training job, `job=<tuning job>-<NNN>-<8 hex>`, so a metric definition on that
line makes each training job's objective its launch number: distinct, known in advance, and the
best one is decided by the objective's direction alone."""

import os
import re
import time

import pytest

from support import REPO, docker_answers, unique, wait_for_log

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
ABALONE = REPO / "fixtures" / "samples" / "objects" / "datasets" / "tabular" / "uci_abalone" / "abalone.libsvm"
# the launch number of the training job, from byo's first line
NUMBER = {"Name": "number", "Regex": r"job=\S+-(\d{3})-[0-9a-f]{8}"}
LOSS = {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}
TERMINAL = ("Completed", "Failed", "Stopped")

pytestmark = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                reason="no Docker engine answers")


def definition(bucket, image, static=None, metrics=(NUMBER,), **extra):
    d = {
        "StaticHyperParameters": static if static is not None else {"mode": "metrics"},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": list(metrics)},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://%s/tuning-output" % bucket},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    d.update(extra)
    return d


def config(strategy, ranges, max_jobs=None, parallel=2, metric="number", direction="Maximize", **extra):
    limits = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    c = {"Strategy": strategy, "ResourceLimits": limits, "ParameterRanges": ranges,
         "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": metric}}
    c.update(extra)
    return c


def wait_tuning(sm, name, timeout=600):
    deadline = time.time() + timeout
    while True:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in TERMINAL:
            return d
        assert time.time() < deadline, d
        time.sleep(0.5)


def children(sm, name, **kw):
    out, token = [], None
    while True:
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=100, **({"NextToken": token} if token else {}), **kw)
        out += page["TrainingJobSummaries"]
        token = page.get("NextToken")
        if not token:
            return out


def most_at_once(sm, names):
    """The most training jobs of `names` that were in progress at one moment (from their
    CreationTime and the time their status became final)."""
    spans = []
    for n in names:
        d = sm.describe_training_job(TrainingJobName=n)
        end = d["SecondaryStatusTransitions"][-1]["StartTime"].timestamp()
        spans.append((d["CreationTime"].timestamp(), end))
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def assert_named_and_linked(sm, tuning_name, tuning_arn, summaries):
    for s in summaries:
        assert re.fullmatch(re.escape(tuning_name) + r"-\d{3}-[0-9a-f]{8}", s["TrainingJobName"]), s
        d = sm.describe_training_job(TrainingJobName=s["TrainingJobName"])
        assert d["TuningJobArn"] == tuning_arn
        for k, v in s["TunedHyperParameters"].items():
            assert d["HyperParameters"][k] == v


# ----- the SageMaker Python SDK over the built-in XGBoost -----

def test_sdk_bayesian_tuner_over_xgboost_finds_deploys_and_analyses_the_best_job(sdk_session, sm, s3, bucket):
    from sagemaker import image_uris
    from sagemaker.analytics import HyperparameterTuningJobAnalytics
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    lines = ABALONE.read_text().splitlines()
    s3.put_object(Bucket=bucket, Key="abalone/train/data.libsvm", Body="\n".join(lines[:350]) + "\n")
    s3.put_object(Bucket=bucket, Key="abalone/validation/data.libsvm", Body="\n".join(lines[350:]) + "\n")
    est = Estimator(image_uri=image_uris.retrieve("xgboost", "us-east-1", "1.7-1"), role=ROLE,
                    instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                    output_path="s3://%s/abalone/output" % bucket,
                    hyperparameters={"num_round": 20, "objective": "reg:squarederror"})
    tuner = HyperparameterTuner(est, "validation:rmse",
                                {"eta": ContinuousParameter(0.05, 0.5), "max_depth": IntegerParameter(1, 6)},
                                objective_type="Minimize", strategy="Bayesian", max_jobs=6,
                                max_parallel_jobs=2, base_tuning_job_name="xgb-tune")
    tuner.fit({"train": TrainingInput("s3://%s/abalone/train/" % bucket, content_type="text/libsvm"),
               "validation": TrainingInput("s3://%s/abalone/validation/" % bucket, content_type="text/libsvm")},
              include_cls_metadata=False)
    tuner.wait()
    name = tuner.latest_tuning_job.name
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TrainingJobStatusCounters"] == {"Completed": 6, "InProgress": 0, "RetryableError": 0,
                                              "NonRetryableError": 0, "Stopped": 0}
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    jobs = children(sm, name)
    assert len(jobs) == 6
    assert_named_and_linked(sm, name, d["HyperParameterTuningJobArn"], jobs)
    values = {j["TrainingJobName"]: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs}
    best = min(values, key=values.get)
    assert tuner.best_training_job() == best
    assert d["BestTrainingJob"]["TrainingJobName"] == best
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": "validation:rmse", "Value": values[best]}
    for j in jobs:
        assert 0.05 <= float(j["TunedHyperParameters"]["eta"]) <= 0.5
        assert j["TunedHyperParameters"]["max_depth"] in {str(i) for i in range(1, 7)}
    assert most_at_once(sm, values) <= 2

    df = HyperparameterTuningJobAnalytics(name, sagemaker_session=sdk_session).dataframe()
    assert sorted(df["TrainingJobName"]) == sorted(values)
    assert {r.TrainingJobName: r.FinalObjectiveValue for r in df.itertuples()} == pytest.approx(values)

    predictor = tuner.deploy(initial_instance_count=1, instance_type="ml.m5.large", serializer=CSVSerializer())
    try:
        out = predictor.predict("59,2,32.1,101,157,93.2,38,4,4.8598,87")
        assert float(out.decode().strip().split(",")[0]) > 0
    finally:
        predictor.delete_model()  # reads the endpoint configuration, which delete_endpoint removes
        predictor.delete_endpoint()


# ----- strategies, warm start, stop, listing -----

@pytest.fixture(scope="module")
def grid_job(sm, bucket, byo_image):
    """A Grid job over 2 × 3 combinations, objective Maximize the launch number."""
    name = unique("grid")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Grid", {"CategoricalParameterRanges": [
            {"Name": "a", "Values": ["1", "2"]}, {"Name": "b", "Values": ["x", "y", "z"]}]}),
        TrainingJobDefinition=definition(bucket, byo_image),
        Tags=[{"Key": "team", "Value": "tuning"}],
    )
    return name, wait_tuning(sm, name)


def test_grid_runs_exactly_its_combinations(sm, grid_job):
    name, d = grid_job
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = children(sm, name)
    combos = sorted((j["TunedHyperParameters"]["a"], j["TunedHyperParameters"]["b"]) for j in jobs)
    assert combos == [("1", "x"), ("1", "y"), ("1", "z"), ("2", "x"), ("2", "y"), ("2", "z")]
    assert_named_and_linked(sm, name, d["HyperParameterTuningJobArn"], jobs)
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    # Maximize the launch number: the sixth job is the best
    assert d["BestTrainingJob"]["TrainingJobName"].startswith(name + "-006-")
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 6
    assert d["HyperParameterTuningEndTime"] >= d["CreationTime"]
    assert most_at_once(sm, [j["TrainingJobName"] for j in jobs]) <= 2
    tags = sm.list_tags(ResourceArn=d["HyperParameterTuningJobArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "tuning"}]


def test_random_draws_within_the_ranges(sm, bucket, byo_image):
    name = unique("random")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Random", {
            "IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1", "MaxValue": "100"}],
            "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1",
                                           "ScalingType": "Logarithmic"}]},
            max_jobs=3, direction="Minimize", RandomSeed=7),
        TrainingJobDefinition=definition(bucket, byo_image),
    )
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = children(sm, name)
    assert len(jobs) == 3
    for j in jobs:
        assert 1 <= int(j["TunedHyperParameters"]["epochs"]) <= 100
        assert 0.001 <= float(j["TunedHyperParameters"]["lr"]) <= 0.1
    assert d["BestTrainingJob"]["TrainingJobName"].startswith(name + "-001-")


def test_warm_start_counts_the_parents_trials(sm, bucket, byo_image, grid_job):
    parent, parent_desc = grid_job
    name = unique("warm")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        # the parent tried every combination of a in 1, 2: the search leaves those out
        HyperParameterTuningJobConfig=config("Random", {"CategoricalParameterRanges": [
            {"Name": "a", "Values": ["1", "2", "3"]}, {"Name": "b", "Values": ["x", "y", "z"]}]}, max_jobs=2),
        TrainingJobDefinition=definition(bucket, byo_image),
        WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
                         "WarmStartType": "IdenticalDataAndAlgorithm"},
    )
    d = wait_tuning(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TrainingJobStatusCounters"]["Completed"] == 2
    assert d["BestTrainingJob"]["TrainingJobName"].startswith(name + "-002-")
    # the parent's sixth job (objective 6) beats this job's best (2)
    assert d["OverallBestTrainingJob"]["TrainingJobName"] == parent_desc["BestTrainingJob"]["TrainingJobName"]
    assert d["OverallBestTrainingJob"]["TuningJobName"] == parent
    assert d["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
    assert {j["TunedHyperParameters"]["a"] for j in children(sm, name)} == {"3"}


def test_stop_stops_every_running_training_job(sm, logs, bucket, byo_image):
    name = unique("stop")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=config("Random", {"IntegerParameterRanges": [
            {"Name": "seconds", "MinValue": "300", "MaxValue": "400"}]}, max_jobs=4, metric="train:loss"),
        TrainingJobDefinition=definition(bucket, byo_image, static={"mode": "sleep"}, metrics=(LOSS,)),
    )
    deadline = time.time() + 120
    while len([j for j in children(sm, name) if j["TrainingJobStatus"] == "InProgress"]) < 2:
        assert time.time() < deadline
        time.sleep(0.5)
    for j in children(sm, name):
        wait_for_log(logs, j["TrainingJobName"], "sleeping")
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    d = wait_tuning(sm, name, timeout=90)
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    jobs = children(sm, name)
    assert len(jobs) == 2
    assert {j["TrainingJobStatus"] for j in jobs} == {"Stopped"}
    assert d["TrainingJobStatusCounters"] == {"Completed": 0, "InProgress": 0, "RetryableError": 0,
                                              "NonRetryableError": 0, "Stopped": 2}
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["Error"]["Message"] == (
        "The request was rejected because the hyperparameter tuning job is in status Stopped.")


def test_list_filters_sorts_and_pages(sm, grid_job):
    name, _ = grid_job
    mine = sm.list_hyper_parameter_tuning_jobs(NameContains=name, StatusEquals="Completed")
    [summary] = mine["HyperParameterTuningJobSummaries"]
    assert summary["Strategy"] == "Grid"
    assert summary["TrainingJobStatusCounters"]["Completed"] == 6
    assert summary["ResourceLimits"] == {"MaxParallelTrainingJobs": 2}
    assert sm.list_hyper_parameter_tuning_jobs(NameContains=name, StatusEquals="InProgress")[
        "HyperParameterTuningJobSummaries"] == []
    everything = sm.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    names = [s["HyperParameterTuningJobName"] for s in everything]
    assert names == sorted(names)  # Name, Ascending by default
    paged, token = [], None
    while True:
        page = sm.list_hyper_parameter_tuning_jobs(MaxResults=1, **({"NextToken": token} if token else {}))
        paged += [s["HyperParameterTuningJobName"] for s in page["HyperParameterTuningJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert paged == names

    by_value = children(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in by_value] == [6, 5, 4, 3, 2, 1]
    first = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=4)
    assert len(first["TrainingJobSummaries"]) == 4 and first["NextToken"]
    assert children(sm, name, StatusEquals="Failed") == []


def test_aws_cli_lists_the_training_jobs_of_a_tuning_job(aws, grid_job):
    name, _ = grid_job
    out = aws("sagemaker", "list-training-jobs-for-hyper-parameter-tuning-job",
              "--hyper-parameter-tuning-job-name", name, "--sort-by", "FinalObjectiveMetricValue").json
    values = [j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in out["TrainingJobSummaries"]]
    assert values == [1, 2, 3, 4, 5, 6]
    assert {j["TuningJobName"] for j in out["TrainingJobSummaries"]} == {name}


# ----- early stopping -----

TRAIN_SCRIPT = '''
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float)
a, _ = p.parse_known_args()
for epoch in range(12):
    # a worse quality gives a higher loss at every epoch
    print("epoch=%d loss=%.4f" % (epoch, a.quality + 1.0 / (epoch + 1)), flush=True)
    time.sleep(1)
'''


@pytest.mark.parametrize("rule", ["hyperband", "median"])
def test_early_stopping_stops_the_clearly_worse_jobs(sdk_session, sm, tmp_path, rule):
    """Hyperband's own stopping (successive halving at rungs 1, 3, 9 of MaxResource 12) and the
    median rule of TrainingJobEarlyStoppingType Auto, each over four qualities whose loss is
    worse at every epoch the higher the quality number is."""
    from sagemaker.sklearn import SKLearn
    from sagemaker.tuner import (CategoricalParameter, HyperbandStrategyConfig, HyperparameterTuner,
                                 StrategyConfig)

    (tmp_path / "train.py").write_text(TRAIN_SCRIPT)
    bucket = sdk_session.default_bucket()
    est = SKLearn(entry_point="train.py", source_dir=str(tmp_path), framework_version="1.2-1", py_version="py3",
                  role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=sdk_session,
                  output_path="s3://%s/%s/output" % (bucket, rule), code_location="s3://%s/%s/code" % (bucket, rule))
    if rule == "hyperband":
        # Asynchronous successive halving stops a job only when a better one has been through
        # the rung first; RandomSeed 10 starts quality 0, then 5 (pinned by the Rust test
        # hyperband_seed_of_the_early_stopping_client_test_starts_the_best_quality_first), so
        # 10 and 20 always meet 0's values at rung 1. Without a seed, a worst-first order
        # (about one draw in twelve) stops nothing, as on SageMaker.
        kind = dict(strategy="Hyperband", random_seed=10, strategy_config=StrategyConfig(
            hyperband_strategy_config=HyperbandStrategyConfig(min_resource=1, max_resource=12)))
    else:
        kind = dict(strategy="Grid", early_stopping_type="Auto")
    tuner = HyperparameterTuner(est, "loss", {"quality": CategoricalParameter(["0", "5", "10", "20"])},
                                metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
                                objective_type="Minimize", max_jobs=4, max_parallel_jobs=2,
                                base_tuning_job_name=rule[:2], **kind)
    tuner.fit(include_cls_metadata=False)
    tuner.wait()
    name = tuner.latest_tuning_job.name
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    jobs = {j["TunedHyperParameters"]["quality"].strip('"'): j for j in children(sm, name)}
    assert sorted(jobs) == ["0", "10", "20", "5"]
    # the best quality is never stopped: it runs its twelve epochs (MaxResource) and completes
    assert jobs["0"]["TrainingJobStatus"] == "Completed"
    stopped = [q for q, j in jobs.items() if j["TrainingJobStatus"] == "Stopped"]
    assert stopped, {q: j["TrainingJobStatus"] for q, j in jobs.items()}
    for q in stopped:
        # an early-stopped job keeps its last objective value
        assert jobs[q]["ObjectiveStatus"] == "Succeeded"
        assert jobs[q]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > float(q)
    assert d["TrainingJobStatusCounters"]["Stopped"] == len(stopped)
    assert d["BestTrainingJob"]["TrainingJobName"] == jobs["0"]["TrainingJobName"]


# ----- refusals -----

def error_of(call):
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_refusals_in_sagemakers_words(sm, bucket, byo_image, grid_job):
    ranges = {"IntegerParameterRanges": [{"Name": "epochs", "MinValue": "1", "MaxValue": "3"}]}

    def create(cfg, **kw):
        kw.setdefault("TrainingJobDefinition", definition(bucket, byo_image))
        return lambda: sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=kw.pop("name", unique("bad")), HyperParameterTuningJobConfig=cfg, **kw)

    missing = unique("missing")
    assert error_of(lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=missing)) == (
        "ResourceNotFound", "Amazon SageMaker can't find a tuning job with name %s" % missing, 400)
    assert error_of(lambda: sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=missing))[0] == "ResourceNotFound"
    assert error_of(create(config("Random", ranges, max_jobs=2, metric="validation:auc"))) == (
        "ValidationException",
        "A metric is required for this hyperparameter tuning job objective. Provide a metric in the metric definitions.",
        400)
    code, message, _ = error_of(create(config("Hyperband", ranges, max_jobs=2, TrainingJobEarlyStoppingType="Auto")))
    assert (code, message) == ("ValidationException", "TrainingJobEarlyStoppingType must be Off for the Hyperband "
                                                      "strategy: Hyperband stops training jobs early by itself.")
    code, message, _ = error_of(create(config("Grid", ranges)))
    assert (code, message) == ("ValidationException", "Only categorical parameters are supported when using the "
                               "Grid search strategy, but the hyperparameter 'epochs' has an integer range. Use "
                               "CategoricalParameterRanges only, or choose another strategy.")
    code, message, _ = error_of(create(config("Random", ranges, max_jobs=2,
                                              StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1}})))
    assert (code, message) == ("ValidationException",
                               "StrategyConfig can be specified only for the Hyperband strategy.")
    continuous = {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.1", "MaxValue": "1"}]}
    code, message, _ = error_of(create(config("Random", continuous, max_jobs=501)))
    assert code == "ResourceLimitExceeded"
    assert "'Maximum number of training jobs per hyperparameter tuning job' is 500 Jobs" in message
    code, message, _ = error_of(create(config("Random", ranges, max_jobs=2), WarmStartConfig={
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": missing}],
        "WarmStartType": "TransferLearning"}))
    assert (code, message) == ("ResourceNotFound", "Amazon SageMaker can't find a tuning job with name %s" % missing)
    taken, _ = grid_job
    code, message, _ = error_of(create(config("Random", ranges, max_jobs=2), name=taken))
    assert code == "ResourceInUse" and taken in message
