#!/usr/bin/env python3
"""`make bench` (processing part): what a processing job costs on top of its container.

CreateProcessingJob → Completed for a container that exits at once (median of --runs), beside the
same image run by the SageMaker Python SDK's local mode (`Processor(instance_type="local")`, which
runs docker-compose), median of --local-runs, in the same run, as a ratio.

Run with the client venv's Python (it has boto3 and the SDK): `.venv/bin/python tests/bench/processing.py`.
Nothing fails because of the figures.
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
IMAGE = "sagebox-bench/instant-processing:1"


def build_instant_image(sagebox: Path) -> None:
    base = base_image(sagebox)
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(f"FROM {base}\n# exits at once\nENTRYPOINT [\"true\"]\n")
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, ctx], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})


def run_job(sm, name: str) -> float:
    """Seconds from CreateProcessingJob to Completed, polled every 10 ms."""
    t0 = time.perf_counter()
    sm.create_processing_job(
        ProcessingJobName=name,
        AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}},
        RoleArn=ROLE,
    )
    return completed_after(sm, name, t0, kind="Processing")


def local_mode_runs(runs: int) -> list[float]:
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from sagemaker.local import LocalSession
    from sagemaker.processing import Processor

    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    times = []
    for _ in range(runs):
        proc = Processor(role=ROLE, image_uri=IMAGE, instance_count=1, instance_type="local",
                         sagemaker_session=session)
        t0 = time.perf_counter()
        proc.run(wait=True, logs=False)
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--local-runs", type=int, default=3)
    args = ap.parse_args()
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    build_instant_image(sagebox)

    data = tempfile.mkdtemp(prefix="sagebox-bench-proc-")
    proc, url = start_sagebox(sagebox, data)
    try:
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench")
        sm = boto3.client("sagemaker", **kw)
        run_job(sm, "warmup")
        overhead = [run_job(sm, f"instant-{i}") for i in range(args.runs)]
    finally:
        stop_sagebox(proc, data)

    local, local_error = [], None
    if args.local_runs:
        try:
            local = local_mode_runs(args.local_runs)
        except Exception as e:  # docker-compose missing, SDK changes: reported, not fatal
            local_error = f"{type(e).__name__}: {e}"

    med = statistics.median(overhead)
    print()
    print("| processing | sagebox | SDK local mode | ratio |")
    print("|---|---|---|---|")
    if local:
        lmed = statistics.median(local)
        print(f"| create → completed, instant container (median s) | {med:.2f} (n={len(overhead)}) | "
              f"{lmed:.2f} (n={len(local)}) | {lmed / med:.1f}× |")
    else:
        print(f"| create → completed, instant container (median s) | {med:.2f} (n={len(overhead)}) | "
              f"{local_error} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
