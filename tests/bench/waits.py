#!/usr/bin/env python3
"""`make bench` (waits part): how long a user waits for work that is done.

The SageMaker Python SDK's `Model.deploy()` and boto3's / the AWS CLI's waiters poll a Describe
call and sleep 30 seconds between polls, whatever the resource does. sagebox holds a Describe of a
resource in transition until the transition ends (`--describe-hold`, 20 s by default), so the
wait ends when the work does. Each row is timed on two servers in the same run: sagebox as it
ships, and the same binary with `--describe-hold 0` (every Describe answered at once: what a
client of an API without the hold sees):

  * SDK v2 `Model.deploy()` of a present image, end to end (median of --runs). The SDK sleeps
    its 30-second poll *before* its first DescribeEndpoint (`sagemaker.session._wait_until`), so
    no server can end this wait sooner: the row shows it, it does not move. Where the time goes
    is measured beside it: botocore's event hooks on the SDK's own client time CreateEndpoint's
    answer and each DescribeEndpoint, and a ListEndpoints watcher the moment of InService;
  * boto3's `endpoint_in_service` waiter (what `aws sagemaker wait endpoint-in-service` runs),
    from CreateEndpoint to the waiter's return, and how long after InService it returned;
  * boto3's `notebook_instance_in_service` waiter, from CreateNotebookInstance;
  * boto3's `training_job_completed_or_stopped` waiter (it sleeps 120 s between polls) from
    CreateTrainingJob, for a job whose container sleeps 2 s (the byo image's `sleep` mode), and how
    long after the job's end it returned. A job's Describe is held only for a waiter (botocore
    marks it in the User-Agent), so the SDK's `fit()`, which reads logs between Describes, is
    never slowed.

Run with the client venv's Python: `.venv/bin/python tests/bench/waits.py`. Targets (from the
issue) are printed for information; nothing fails because of them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3

from common import model_tar, start_sagebox, stop_sagebox
from hosting import IMAGE, ROLE, build_image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]



def in_service_at(listed, name: str, stop: threading.Event, seen: dict):
    """Watches a List call (never held) in the background for the moment `name` is InService;
    `listed()` gives (name, status) pairs."""
    while not stop.is_set():
        if (name, "InService") in listed():
            seen.setdefault(name, time.perf_counter())
            return
        time.sleep(0.02)


def endpoints(sm, name: str):
    return lambda: [(e["EndpointName"], e["EndpointStatus"])
                    for e in sm.list_endpoints(NameContains=name)["Endpoints"]]


def notebooks(sm, name: str):
    return lambda: [(n["NotebookInstanceName"], n["NotebookInstanceStatus"])
                    for n in sm.list_notebook_instances(NameContains=name)["NotebookInstances"]]


def waited(sm, waiter: str, listed, name: str, **params) -> tuple[float, float]:
    """Runs boto3's `waiter` while `listed` is watched; (the moment the waiter returned, seconds
    after the List call first said InService)."""
    seen, stop = {}, threading.Event()
    watcher = threading.Thread(target=in_service_at, args=(listed, name, stop, seen))
    watcher.start()
    sm.get_waiter(waiter).wait(**params)
    done = time.perf_counter()
    stop.set()
    watcher.join()
    # The watcher looks every 20 ms, so it can see InService just after the waiter returned.
    return done, max(0.0, done - seen.get(name, done))


class DeployTrace:
    """When the SDK's own client made its calls during `deploy()` (botocore's event hooks on it):
    the end of CreateEndpoint and the start of each DescribeEndpoint."""

    def __init__(self, client):
        self.created, self.described = None, []
        client.meta.events.register("after-call.sagemaker.CreateEndpoint", self._created)
        client.meta.events.register("before-call.sagemaker.DescribeEndpoint", self._described)

    def _created(self, **_):
        self.created = time.perf_counter()

    def _described(self, **_):
        self.described.append(time.perf_counter())

    def reset(self):
        self.created, self.described = None, []


def measure(url: str, runs: int) -> dict:
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", SAGEMAKER_SUPPRESS_V2_WARNING="1")
    import sagemaker
    from sagemaker.model import Model

    boto_session = boto3.Session(region_name="us-east-1")
    sm, s3 = boto_session.client("sagemaker"), boto_session.client("s3")
    s3.create_bucket(Bucket="bench-waits")
    s3.put_object(Bucket="bench-waits", Key="model.tar.gz", Body=model_tar())
    session = sagemaker.Session(boto_session=boto_session, default_bucket="bench-waits")
    out = {"deploy": [], "deploy_in_service": [], "deploy_first_describe": [], "deploy_after": [],
           "waiter": [], "after": [], "notebook": [], "notebook_after": [], "job": [], "job_after": []}
    trace = DeployTrace(session.sagemaker_client)
    for i in range(runs):
        model = Model(image_uri=IMAGE, model_data="s3://bench-waits/model.tar.gz", role=ROLE,
                      sagemaker_session=session)
        name = f"deploy-{i}"
        trace.reset()
        seen, stop = {}, threading.Event()
        watcher = threading.Thread(target=in_service_at, args=(endpoints(sm, name), name, stop, seen))
        watcher.start()
        t0 = time.perf_counter()
        model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=name)
        done = time.perf_counter()
        stop.set()
        watcher.join()
        out["deploy"].append(done - t0)
        # Where deploy()'s time went: the endpoint's own start, then the SDK's sleep before its
        # first DescribeEndpoint, then what followed InService.
        out["deploy_in_service"].append(seen.get(name, done) - trace.created)
        out["deploy_first_describe"].append(trace.described[0] - trace.created)
        out["deploy_after"].append(max(0.0, done - seen.get(name, done)))
        sm.delete_endpoint(EndpointName=name)

        name = f"waiter-{i}"
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": model.name, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        t0 = time.perf_counter()
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        done, after = waited(sm, "endpoint_in_service", endpoints(sm, name), name, EndpointName=name)
        out["waiter"].append(done - t0)
        out["after"].append(after)
        sm.delete_endpoint(EndpointName=name)
    nb = "bench-notebook"
    t0 = time.perf_counter()
    sm.create_notebook_instance(NotebookInstanceName=nb, InstanceType="ml.t3.medium", RoleArn=ROLE)
    done, after = waited(sm, "notebook_instance_in_service", notebooks(sm, nb), nb, NotebookInstanceName=nb)
    out["notebook"].append(done - t0)
    out["notebook_after"].append(after)
    sm.stop_notebook_instance(NotebookInstanceName=nb)
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName=nb)
    sm.delete_notebook_instance(NotebookInstanceName=nb)
    sm.get_waiter("notebook_instance_deleted").wait(NotebookInstanceName=nb)
    job = "bench-waiter-job"
    t0 = time.perf_counter()
    sm.create_training_job(
        TrainingJobName=job, RoleArn=ROLE, HyperParameters={"mode": "sleep", "seconds": "2"},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://bench-waits/jobs"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=job)
    done = time.perf_counter()
    out["job"].append(done - t0)
    ended = sm.describe_training_job(TrainingJobName=job)["TrainingEndTime"].timestamp()
    out["job_after"].append(max(0.0, time.time() - (time.perf_counter() - done) - ended))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    build_image(sagebox)
    results = {}
    for label, extra in (("held", ()), ("hold 0", ("--describe-hold", "0"))):
        data_dir = tempfile.mkdtemp(prefix="sagebox-bench-waits-")
        proc, url = start_sagebox(sagebox, data_dir, extra)
        try:
            results[label] = measure(url, args.runs)
        finally:
            stop_sagebox(proc, data_dir)
    held, plain = results["held"], results["hold 0"]
    out = HERE / "results" / "waits.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, **results}, indent=1))
    med = statistics.median

    def row(what, key, target):
        a, b = med(held[key]), med(plain[key])
        # Below 10 ms the ratio says more about the watcher's 20-ms look than about the wait.
        ratio = f"{b / a:.1f}×" if a >= 0.01 else "–"
        print(f"| {what} | {a:.2f} | {b:.2f} | {ratio} | {target} |")

    print()
    print("| waits (median s) | sagebox | sagebox --describe-hold 0 | ratio | target |")
    print("|---|---|---|---|---|")
    row(f"SDK v2 Model.deploy(), image present (n={args.runs})", "deploy", "≤ 3 s")
    row("… from CreateEndpoint to InService", "deploy_in_service", "")
    row("… from CreateEndpoint to the SDK's first DescribeEndpoint (its sleep)", "deploy_first_describe", "")
    row("… of which after InService", "deploy_after", "")
    row(f"endpoint_in_service waiter from CreateEndpoint (n={args.runs})", "waiter", "")
    row("… of which after InService", "after", "≤ 2 s")
    row("notebook_instance_in_service waiter from Create (n=1)", "notebook", "")
    row("… of which after InService", "notebook_after", "≤ 2 s")
    row("training_job_completed_or_stopped waiter from Create, 2-s job (n=1)", "job", "")
    row("… of which after the job's end", "job_after", "≤ 2 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
