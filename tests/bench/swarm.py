#!/usr/bin/env python3
"""`make bench` (swarm part, issue #24): what `--engine swarm` costs beside the local engine, on
the real three-engine Docker Swarm the cluster tests build on this machine (tests/clients/cluster.py).

  * training overhead: CreateTrainingJob → Completed for a container that exits at once (a
    static-busybox image, so the agent's download and upload are in it), median of --runs, on the
    local engine and on the swarm (after one warm-up job that pushes the image);
  * endpoint Create → InService (one instance answering /ping), median of --runs, both engines;
  * 8 instant training jobs started together: wall time on a 3-node swarm against a 1-node one.

Needs root (network namespaces), Docker and Debian's busybox-static and docker-registry. Run with
the client venv's Python: `.venv/bin/python tests/bench/swarm.py`. Nothing fails on a ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from common import completed_after, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "clients"))
from cluster import Cluster, busybox_image, sh, sweep  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
SERVE = "#!/bin/sh\nexec nc -ll -p 8080 -e /bin/answer\n"
ANSWER = r"""#!/bin/sh
read -r method path version
while read -r line; do [ -z "$(echo "$line" | tr -d '\r')" ] && break; done
printf 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'
"""


def clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    return boto3.client("sagemaker", **kw), boto3.client("s3", **kw)


def job(sm, bucket: str, image: str) -> float:
    name = "bench-%s" % uuid.uuid4().hex[:10]
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://%s/out" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    return completed_after(sm, name, t0)


def endpoint(sm, bucket: str, image: str) -> float:
    suffix = uuid.uuid4().hex[:10]
    sm.create_model(ModelName="m-" + suffix, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": image, "ModelDataUrl": "s3://%s/model.tar.gz" % bucket})
    sm.create_endpoint_config(EndpointConfigName="c-" + suffix, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "m-" + suffix, "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1}])
    t0 = time.perf_counter()
    sm.create_endpoint(EndpointName="e-" + suffix, EndpointConfigName="c-" + suffix)
    while True:
        status = sm.describe_endpoint(EndpointName="e-" + suffix)["EndpointStatus"]
        if status != "Creating":
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    if status != "InService":
        raise RuntimeError("endpoint %s: %s" % (suffix, status))
    sm.delete_endpoint(EndpointName="e-" + suffix)
    return elapsed


def model_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("weights")
        info.size = 2
        t.addfile(info, io.BytesIO(b"w1"))
    return buf.getvalue()


def measure(sagebox: Path, image: str, extra, runs: int, parallel: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="sagebox-bench-swarm-") as tmp:
        data = Path(tmp) / "data"
        proc, url = start_sagebox(sagebox, str(data), extra)
        try:
            sm, s3 = clients(url)
            bucket = "bench-%s" % uuid.uuid4().hex[:8]
            s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=model_tar())
            job(sm, bucket, image)  # warm-up: on the swarm, the image's push
            out = {"job": statistics.median(job(sm, bucket, image) for _ in range(runs)),
                   "endpoint": statistics.median(endpoint(sm, bucket, image) for _ in range(runs))}
            if parallel:
                t0 = time.perf_counter()
                with ThreadPoolExecutor(parallel) as pool:
                    list(pool.map(lambda _: job(sm, bucket, image), range(parallel)))
                out["parallel"] = time.perf_counter() - t0
            return out
        finally:
            if extra:
                # the services go before the data dir that names them
                proc.terminate()
                proc.wait(timeout=30)
                sh(str(sagebox), "purge", "--data-dir", str(data), *extra, check=False)
            stop_sagebox(proc, data)


def swarm_args(c: Cluster):
    return ["--engine", "swarm", "--swarm-host", c.nodes[0].socket, "--swarm-registry", c.registry,
            "--cluster-address", c.host_ip]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=8)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("swarm bench: skipped (needs root for the test cluster's namespaces)")
        return
    sagebox = Path(os.environ.get("SAGEBOX_BIN") or REPO / "target" / "release" / "sagebox")
    with tempfile.TemporaryDirectory() as tmp:
        image = busybox_image(Path(tmp), "sagebox-bench/swarm-%s:1" % uuid.uuid4().hex[:6],
                              ("sh", "nc", "printf", "true", "tr", "echo"), {"train": "#!/bin/sh\nexit 0\n",
                                                               "serve": SERVE, "answer": ANSWER})
        try:
            local = measure(sagebox, image, (), args.runs)
            sweep()
            three = Cluster(size=3).up()
            try:
                on3 = measure(sagebox, image, swarm_args(three), args.runs, args.parallel)
            finally:
                three.down()
            one = Cluster(size=1).up()
            try:
                on1 = measure(sagebox, image, swarm_args(one), 1, args.parallel)
            finally:
                one.down()
        finally:
            sh("docker", "rmi", "-f", image, check=False)
    rows = [
        ("training job overhead (s): swarm vs local", on3["job"], local["job"]),
        ("endpoint Create→InService (s): swarm vs local", on3["endpoint"], local["endpoint"]),
        ("%d instant jobs at once (s): 3 nodes vs 1 node" % args.parallel, on3["parallel"], on1["parallel"]),
    ]
    print("\n%-52s %10s %10s %8s" % ("swarm engine (busybox image, agent included)", "this", "peer", "ratio"))
    for label, this, peer in rows:
        print("%-52s %10.2f %10.2f %7.2fx" % (label, this, peer, this / peer))


if __name__ == "__main__":
    main()
