#!/usr/bin/env python3
"""`make bench` (hosting part): what an endpoint costs on top of its container.

  * deploy: CreateEndpoint → InService for a small model whose image is present (median of
    --runs), polling DescribeEndpoint every 10 ms; beside it the SageMaker Python SDK's local mode
    deploying the same image (`instance_type="local"`, docker-compose), median of --local-runs;
  * invoke overhead: the same small request sent for --seconds over --connections keep-alive
    connections (examples/loadgen.rs) through sagebox's InvokeEndpoint and directly to the
    container's published port, in one run: added p50 latency and throughput ratio.

The model is the byo image of the client tests (fixtures/byo, its `serve` side: a Python HTTP server).
Run with the client venv's Python: `.venv/bin/python tests/bench/hosting.py`. Targets (from the
issue) are printed for information; nothing fails because of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from common import base_image, model_tar, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
IMAGE = "sagebox-test/byo:1"
BODY = '{"features": [1, 2, 3, 4]}'


def build_image(sagebox: Path) -> None:
    base = base_image(sagebox)
    subprocess.run(["docker", "build", "-q", "--build-arg", "BASE=" + base, "-t", IMAGE, str(REPO / "fixtures" / "byo")],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DOCKER_BUILDKIT": "0"})


def loadgen(url: str, connections: int, seconds: int) -> dict:
    out = subprocess.run([str(REPO / "target" / "release" / "examples" / "loadgen"), url, str(connections),
                          str(seconds), BODY, "Content-Type: application/json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def deploy(sm, name: str, model: str) -> float:
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    t0 = time.perf_counter()
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while True:
        d = sm.describe_endpoint(EndpointName=name)
        if d["EndpointStatus"] != "Creating":
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    if d["EndpointStatus"] != "InService":
        raise RuntimeError(f"{name}: {d['EndpointStatus']}: {d.get('FailureReason')}")
    return elapsed


def local_mode_deploys(runs: int, model_dir: Path) -> list[float]:
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from sagemaker.local import LocalSession
    from sagemaker.model import Model

    session = LocalSession()
    session.config = {"local": {"local_code": True}}
    times = []
    for _ in range(runs):
        model = Model(image_uri=IMAGE, model_data=f"file://{model_dir}/model.tar.gz", role=ROLE,
                      sagemaker_session=session)
        t0 = time.perf_counter()
        predictor = model.deploy(initial_instance_count=1, instance_type="local")
        times.append(time.perf_counter() - t0)
        predictor.delete_endpoint()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--local-runs", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--local-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.local_child:
        print(json.dumps(local_mode_deploys(args.local_runs, Path(args.local_child))))
        return 0
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    subprocess.run(["cargo", "build", "--release", "--example", "loadgen"], cwd=REPO, check=True)
    build_image(sagebox)

    model_dir = Path(tempfile.mkdtemp(prefix="sagebox-bench-model-"))
    (model_dir / "model.tar.gz").write_bytes(model_tar())

    data_dir = tempfile.mkdtemp(prefix="sagebox-bench-host-")
    proc, url = start_sagebox(sagebox, data_dir)
    try:
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
        sm, s3 = boto3.client("sagemaker", **kw), boto3.client("s3", **kw)
        s3.create_bucket(Bucket="bench-host")
        s3.put_object(Bucket="bench-host", Key="model.tar.gz", Body=buf.getvalue())
        sm.create_model(ModelName="bench", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": IMAGE, "ModelDataUrl": "s3://bench-host/model.tar.gz"})
        deploy(sm, "warmup", "bench")
        times = []
        for i in range(args.runs):
            times.append(deploy(sm, f"ep-{i}", "bench"))
            sm.delete_endpoint(EndpointName=f"ep-{i}")

        arn = sm.describe_endpoint(EndpointName="warmup")["EndpointArn"]
        cid = subprocess.run(["docker", "ps", "-q", "--filter", "label=sagebox.resource-arn=" + arn],
                             capture_output=True, text=True, check=True).stdout.split()[0]
        mapped = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True, text=True,
                                check=True).stdout.split()[0]
        direct_url = f"http://{mapped}/invocations"
        via_url = f"{url}/endpoints/warmup/invocations"
        loadgen(via_url, args.connections, 2)  # warm both paths
        loadgen(direct_url, args.connections, 2)
        direct = loadgen(direct_url, args.connections, args.seconds)
        via = loadgen(via_url, args.connections, args.seconds)
        # one connection: latency without queueing in the (single-process) container
        direct1 = loadgen(direct_url, 1, args.seconds)
        via1 = loadgen(via_url, 1, args.seconds)
        sm.delete_endpoint(EndpointName="warmup")
        time.sleep(2)
    finally:
        stop_sagebox(proc, data_dir)

    local, local_error = [], None
    if args.local_runs:
        # in a child process with a time limit: local mode can hang in docker-compose
        try:
            child = subprocess.run([sys.executable, __file__, "--local-child", str(model_dir),
                                    "--local-runs", str(args.local_runs)],
                                   capture_output=True, text=True, timeout=120 * args.local_runs)
            if child.returncode == 0:
                local = json.loads(child.stdout.strip().splitlines()[-1])
            else:
                local_error = child.stderr.strip().splitlines()[-1] if child.stderr.strip() else "failed"
        except subprocess.TimeoutExpired:
            local_error = f"no answer within {120 * args.local_runs} s"
            subprocess.run("docker ps -q --filter name=algo-1 | xargs -r docker rm -f", shell=True,
                           capture_output=True)
    shutil.rmtree(model_dir, ignore_errors=True)

    med = statistics.median(times)
    print()
    print("| hosting | sagebox | peer | ratio | target |")
    print("|---|---|---|---|---|")
    if local:
        lmed = statistics.median(local)
        print(f"| create → InService, image present (median s) | {med:.2f} (n={len(times)}) | "
              f"SDK local mode deploy {lmed:.2f} (n={len(local)}) | {lmed / med:.1f}× | ≤ 2 s |")
    else:
        print(f"| create → InService, image present (median s) | {med:.2f} (n={len(times)}) | "
              f"SDK local mode: {local_error} | | ≤ 2 s |")
    print(f"| invoke p50 latency, 1 connection (µs) | {via1['p50_us']} | "
          f"direct to container {direct1['p50_us']} | +{via1['p50_us'] - direct1['p50_us']} µs | ≤ +300 µs |")
    print(f"| invoke p50 latency, {args.connections} connections (µs) | {via['p50_us']} | "
          f"direct to container {direct['p50_us']} | +{via['p50_us'] - direct['p50_us']} µs | ≤ +300 µs |")
    print(f"| invoke p99 latency (µs) | {via['p99_us']} | direct {direct['p99_us']} | "
          f"+{via['p99_us'] - direct['p99_us']} µs | |")
    print(f"| invoke throughput (req/s) | {via['rps']:.0f} | direct {direct['rps']:.0f} | "
          f"{100 * via['rps'] / max(direct['rps'], 1):.0f}% | ≥ 90% |")
    print(f"| errors | {via['errors']} | direct {direct['errors']} | | 0 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
