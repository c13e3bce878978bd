#!/usr/bin/env python3
"""`make bench` (framework part): what a script-mode job costs on top of its container, and what the
CPU PyTorch image costs to have.

  * overhead: CreateTrainingJob → Completed for a PyTorch script that exits at once, sent to sagebox
    with the SDK's pytorch-training image URI (served by sagebox/pytorch; median of --runs), against
    the SageMaker Python SDK's local mode (`PyTorch(..., instance_type="local")`, docker-compose)
    running the same script in the same image, sagebox/pytorch:latest (median of --local-runs);
  * the CPU image: its size (`docker image inspect`) and build time. A build is timed when the
    bench finds the image missing (or with --rebuild-image, which removes it first: its parent
    base-frameworks stays); the figure is kept in tests/bench/results/framework-image.json and
    shown again by later runs, as rebuilding each time would dominate the bench.

Run with the client venv's Python (it has boto3 and the SDK): `.venv/bin/python tests/bench/framework.py`.
Nothing fails because of a figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import boto3

from common import completed_after, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results" / "framework-image.json"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
# What `image_uris.retrieve("pytorch", "us-east-1", version="2.6", py_version="py312",
# instance_type="ml.m5.large", image_scope="training")` returns.
TRAINING_URI = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6-cpu-py312"
LOCAL_IMAGE = "sagebox/pytorch:latest"
SCRIPT = "# exits at once: the job's cost is everything around it\n"


def image_size(ref: str) -> int | None:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", ref],
                         capture_output=True, text=True)
    return int(out.stdout.strip()) if out.returncode == 0 else None


def images(sagebox: Path) -> dict[str, dict]:
    """`sagebox images list --json`, by recipe name (reference, present)."""
    out = subprocess.run([str(sagebox), "images", "list", "--json"], capture_output=True, text=True, check=True)
    return {r["name"]: r for r in json.loads(out.stdout)}


def build_pytorch(sagebox: Path, rebuild: bool) -> dict | None:
    """Builds sagebox/pytorch if missing (timed, recorded); returns the latest recorded build."""
    before = images(sagebox)
    if rebuild and before["pytorch"]["present"]:
        subprocess.run(["docker", "rmi", "-f", LOCAL_IMAGE, before["pytorch"]["reference"]],
                       capture_output=True)
        before = images(sagebox)
    t0 = time.perf_counter()
    out = subprocess.run([str(sagebox), "images", "build", "pytorch"], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"sagebox images build pytorch failed:\n{out.stderr[-3000:]}")
    if before["pytorch"]["present"]:
        return json.loads(RESULTS.read_text()) if RESULTS.is_file() else None
    built = [name for name in ("base-frameworks", "pytorch") if not before[name]["present"]]
    # what the builder reports for the image, parents included ("pytorch: sagebox/pytorch:<hash> (12.3 s)")
    m = re.search(r"^pytorch: \S+ \(([\d.]+) s\)", out.stdout, re.M)
    record = {"seconds": float(m.group(1)) if m else round(elapsed, 1), "built": built,
              "when": time.strftime("%Y-%m-%d %H:%M:%S"), "host_cpus": os.cpu_count()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    return record


def clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    return boto3.client("sagemaker", **kw), boto3.client("s3", **kw)


def sourcedir() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(SCRIPT)
        tar.addfile(info, io.BytesIO(SCRIPT.encode()))
    return buf.getvalue()


def run_job(sm, bucket: str, name: str) -> float:
    """Create → Completed, as the SDK's PyTorch estimator sends it (script and code location as
    hyperparameters, JSON-encoded)."""
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": TRAINING_URI, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"sagemaker_program": json.dumps("train.py"),
                         "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
                         "sagemaker_region": json.dumps("us-east-1"),
                         "sagemaker_container_log_level": "20"},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return completed_after(sm, name, t0)


def compose_containers(image: str) -> set[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project",
                          "--filter", f"ancestor={image}"], capture_output=True, text=True)
    return set(out.stdout.split())


def local_mode_runs(runs: int, image: str) -> list[float]:
    """Local mode leaves its stopped containers and network behind: removed here."""
    before = compose_containers(image)
    try:
        return _local_mode_runs(runs, image)
    finally:
        left = compose_containers(image) - before
        if left:
            subprocess.run(["docker", "rm", "-f", *sorted(left)], capture_output=True)
        subprocess.run(["docker", "network", "rm", "sagemaker-local"], capture_output=True)


def _local_mode_runs(runs: int, image: str) -> list[float]:
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # no telemetry calls to AWS from an offline bench (the SDK's documented opt-out, as a defaults file)
    cfg = Path(tempfile.mkdtemp(prefix="sagebox-bench-sdk-")) / "config.yaml"
    cfg.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
    os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(cfg)
    from sagemaker.local import LocalSession
    from sagemaker.pytorch import PyTorch

    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    times = []
    with tempfile.TemporaryDirectory() as src, tempfile.TemporaryDirectory() as out:
        Path(src, "train.py").write_text(SCRIPT)
        for _ in range(runs):
            est = PyTorch(entry_point="train.py", source_dir=src, image_uri=image, role=ROLE,
                          instance_count=1, instance_type="local", sagemaker_session=session,
                          output_path=f"file://{out}")
            t0 = time.perf_counter()
            est.fit(wait=True, logs=False)
            times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--local-runs", type=int, default=3)
    ap.add_argument("--rebuild-image", action="store_true",
                    help="remove sagebox/pytorch and time its build (base-frameworks is kept)")
    args = ap.parse_args()
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    build = build_pytorch(sagebox, args.rebuild_image)
    size = image_size(LOCAL_IMAGE)
    base_size = image_size(images(sagebox)["base-frameworks"]["reference"])

    data = tempfile.mkdtemp(prefix="sagebox-bench-fw-")
    proc, url = start_sagebox(sagebox, data)
    try:
        sm, s3 = clients(url)
        s3.create_bucket(Bucket="bench-fw")
        s3.put_object(Bucket="bench-fw", Key="code/sourcedir.tar.gz", Body=sourcedir())
        run_job(sm, "bench-fw", "fw-warmup")
        overhead = [run_job(sm, "bench-fw", f"fw-instant-{i}") for i in range(args.runs)]
    finally:
        stop_sagebox(proc, data)

    local, local_error = [], None
    if args.local_runs:
        try:
            # the image sagebox/pytorch:latest names now, by its own tag (a concurrent build may move latest)
            local = local_mode_runs(args.local_runs, images(sagebox)["pytorch"]["reference"])
        except Exception as e:  # docker-compose missing, SDK changes: reported, not fatal
            local_error = f"{type(e).__name__}: {e}"

    med = statistics.median(overhead)
    print()
    print("| framework (PyTorch script mode) | sagebox | SDK local mode | ratio |")
    print("|---|---|---|---|")
    if local:
        lmed = statistics.median(local)
        print(f"| create → completed, script that exits at once (median s) | {med:.2f} (n={len(overhead)}) | "
              f"{lmed:.2f} (n={len(local)}) | {lmed / med:.1f}× |")
    else:
        print(f"| create → completed, script that exits at once (median s) | {med:.2f} (n={len(overhead)}) | "
              f"{local_error} | |")
    print()
    print("| CPU image sagebox/pytorch | figure |")
    print("|---|---|")
    mib = lambda b: f"{b / 2**20:,.0f} MiB" if b else "?"  # noqa: E731
    print(f"| size | {mib(size)} (base-frameworks {mib(base_size)}, so {mib((size or 0) - (base_size or 0))} "
          f"of its own) |")
    if build:
        print(f"| build time | {build['seconds']:.1f} s, building {' + '.join(build['built'])} "
              f"({build['when']}, {build['host_cpus']} CPUs) |")
    else:
        print("| build time | not measured: the image was present (`--rebuild-image` times it) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
