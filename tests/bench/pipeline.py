#!/usr/bin/env python3
"""`make bench` (pipeline part): what a pipeline execution costs on top of its jobs.

A SageMaker Python SDK v2 pipeline of two ProcessingSteps, each a container that exits at once, the
second DependsOn the first; timed from `pipeline.start()` to the execution's Succeeded
(DescribePipelineExecution polled every 10 ms, not the SDK waiter's delay), median of --runs on
sagebox, beside the same pipeline run by the SDK's local pipeline mode (`LocalPipelineSession`,
`Processor(instance_type="local")`, which runs docker-compose and returns from `start()` once the
execution is over), median of --local-runs, in the same run, as a ratio.

Run with the client venv's Python (it has boto3 and the SDK): `.venv/bin/python tests/bench/pipeline.py`.
Nothing fails because of the figures; it exits non-zero only if an execution fails.
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

from common import base_image, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
REGION = "us-east-1"
IMAGE = "sagebox-bench/instant-pipeline:1"
BUCKET = "bench-pipeline"
# the SDK's telemetry off, so no step definition tries to reach AWS's telemetry bucket
SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def build_instant_image(sagebox: Path) -> None:
    base = base_image(sagebox)
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(f"FROM {base}\n# exits at once\nENTRYPOINT [\"true\"]\n")
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, ctx], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})


def remove_image() -> None:
    """The containers left from IMAGE (local mode's docker-compose leaves its own), then IMAGE."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"ancestor={IMAGE}"], capture_output=True,
                         text=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["docker", "rmi", "-f", IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_pipeline(session, name: str, instance_type: str):
    """First → Second (DependsOn First), each a ProcessingStep running the instant container."""
    from sagemaker.processing import Processor
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.steps import ProcessingStep

    def step(step_name: str, depends_on=None):
        proc = Processor(role=ROLE, image_uri=IMAGE, instance_count=1, instance_type=instance_type,
                         sagemaker_session=session)
        return ProcessingStep(name=step_name, step_args=proc.run(logs=False), depends_on=depends_on)

    first = step("First")
    second = step("Second", depends_on=[first])
    pipeline = Pipeline(name=name, steps=[first, second], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    return pipeline


def run_execution(pipeline) -> float:
    """Seconds from pipeline.start() to Succeeded, DescribePipelineExecution polled every 10 ms."""
    t0 = time.perf_counter()
    execution = pipeline.start()
    while True:
        d = execution.describe()
        status = d["PipelineExecutionStatus"]
        if status not in ("Executing", "Stopping"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    if status != "Succeeded":
        steps = execution.list_steps()
        raise RuntimeError(f"{pipeline.name}: {status}: {d.get('FailureReason')}; steps: {steps}")
    return elapsed


def sagebox_runs(url: str, runs: int) -> list[float]:
    from sagemaker.workflow.pipeline_context import PipelineSession

    boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id="bench",
                 aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
    os.environ["AWS_ENDPOINT_URL"] = url  # the SDK's own clients (it builds them from the boto session)
    try:
        boto_session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
        session = PipelineSession(boto_session=boto_session, default_bucket=BUCKET, sagemaker_config=SDK_CONFIG)
        pipeline = build_pipeline(session, "bench-pipeline", "ml.m5.large")
        run_execution(pipeline)  # warm-up
        return [run_execution(pipeline) for _ in range(runs)]
    finally:
        del os.environ["AWS_ENDPOINT_URL"]


def local_mode_runs(runs: int) -> list[float]:
    from sagemaker.workflow.pipeline_context import LocalPipelineSession

    boto_session = boto3.Session(region_name=REGION, aws_access_key_id="bench", aws_secret_access_key="bench")
    session = LocalPipelineSession(boto_session=boto_session, default_bucket=BUCKET)
    session.sagemaker_config = SDK_CONFIG  # LocalPipelineSession takes no sagemaker_config argument
    session.config = {"local": {"local_code": True}}
    pipeline = build_pipeline(session, "bench-pipeline-local", "local")
    return [run_execution(pipeline) for _ in range(runs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--local-runs", type=int, default=2)
    args = ap.parse_args()
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))

    build_instant_image(sagebox)
    local, local_error = [], None
    try:
        data = tempfile.mkdtemp(prefix="sagebox-bench-pipeline-")
        proc, url = start_sagebox(sagebox, data)
        try:
            overhead = sagebox_runs(url, args.runs)
        finally:
            stop_sagebox(proc, data)

        if args.local_runs:
            try:
                local = local_mode_runs(args.local_runs)
            except Exception as e:  # docker-compose missing, SDK changes: reported, not fatal
                local_error = f"local mode could not run it: {type(e).__name__}: {e}".replace("\n", " ")
    finally:
        remove_image()

    med = statistics.median(overhead)
    row = "| start → Succeeded, 2 instant processing steps (median s) |"
    print()
    print("| pipeline | sagebox | SDK local pipeline mode | ratio |")
    print("|---|---|---|---|")
    if local:
        lmed = statistics.median(local)
        print(f"{row} {med:.2f} (n={len(overhead)}) | {lmed:.2f} (n={len(local)}) | {lmed / med:.1f}× |")
    else:
        print(f"{row} {med:.2f} (n={len(overhead)}) | {local_error or 'not run (--local-runs 0)'} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
