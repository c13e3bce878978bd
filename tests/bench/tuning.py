#!/usr/bin/env python3
"""`make bench` (tuning part): how well a hyperparameter tuning job uses its parallel slots.

A tuning job of --jobs training jobs (Grid over one categorical hyperparameter with --jobs values),
--parallel at once, each a container that prints its metric and exits at once; its wall time
(CreateHyperParameterTuningJob → Completed) is set against --jobs × the single-job overhead
(CreateTrainingJob → Completed for the same image, median of --runs, measured in the same run).
The ratio is the speed-up the parallel slots give: --parallel would be perfect, 1.0 no better than
one job after another. On a 2-core machine the containers' own start-up competes for the cores.

Run with the client venv's Python: `.venv/bin/python tests/bench/tuning.py`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from common import base_image, completed_after, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
IMAGE = "sagebox-bench/instant-metric:1"
METRICS = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]


def build_image(sagebox: Path) -> None:
    base = base_image(sagebox)
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(
            f"FROM {base}\n# prints its metric and exits, whatever the arguments (SageMaker passes `train`)\n"
            "ENTRYPOINT [\"sh\", \"-c\", \"echo loss=0.5\", \"--\"]\n")
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, ctx], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})


def run_job(sm, bucket: str, name: str) -> float:
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": METRICS},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return completed_after(sm, name, t0)


def run_tuning(sm, bucket: str, name: str, jobs: int, parallel: int) -> float:
    t0 = time.perf_counter()
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"CategoricalParameterRanges": [
                {"Name": "x", "Values": [str(i) for i in range(jobs)]}]},
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                       "MetricDefinitions": METRICS},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    )
    while True:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    done = d["TrainingJobStatusCounters"].get("Completed", 0)
    if d["HyperParameterTuningJobStatus"] != "Completed" or done != jobs:
        raise RuntimeError(f"{name}: {d['HyperParameterTuningJobStatus']} with {done} of {jobs} "
                           f"training jobs completed: {d.get('FailureReason')}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    build_image(sagebox)

    data = tempfile.mkdtemp(prefix="sagebox-bench-tuning-")
    proc, url = start_sagebox(sagebox, data)
    try:
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench")
        sm, s3 = boto3.client("sagemaker", **kw), boto3.client("s3", **kw)
        s3.create_bucket(Bucket="bench-tuning")
        run_job(sm, "bench-tuning", "warmup")
        single = statistics.median(run_job(sm, "bench-tuning", f"single-{i}") for i in range(args.runs))
        wall = run_tuning(sm, "bench-tuning", "tuning", args.jobs, args.parallel)
    finally:
        stop_sagebox(proc, data)

    serial = args.jobs * single
    print()
    print("| tuning | wall (s) | jobs × single job (s) | speed-up | ideal |")
    print("|---|---|---|---|---|")
    print(f"| {args.jobs} instant training jobs, {args.parallel} in parallel | {wall:.2f} | "
          f"{args.jobs} × {single:.2f} = {serial:.2f} | {serial / wall:.2f}× | {args.parallel}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
