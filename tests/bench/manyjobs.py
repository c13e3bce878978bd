#!/usr/bin/env python3
"""`make bench` (many jobs part): sagebox's log path and its footprint with many containers at once.

Both parts run on one sagebox release server on 127.0.0.1 with a temporary data directory:

  1. ingestion ceiling: one training job whose container (the byo image's `flood` mode) prints
     --lines lines as fast as it can, then exits. Lines stored in its log stream (counted by
     paging GetLogEvents) ÷ the time from its first line (the stream's firstEventTimestamp, the
     engine's stamp) to the last store (the stream's lastIngestionTime, sagebox's clock); then, on
     that stream, GetLogEvents latency (head and tail page, median of --calls) and
     FilterLogEvents over the whole stream for a pattern that matches every 100,000th line
     (`needle`), first call and the whole search until nextToken is absent (median of --calls);
  2. many jobs at once: --endpoints endpoints of the byo serving image, each invoked about once
     a second by a small thread pool, and --jobs training jobs printing --rate lines a second for
     --seconds seconds. Every 0.5 s: sagebox's VmRSS (peak), its utime+stime (CPU share of one
     core over the load window: the first CreateTrainingJob to the last job's Completed) and the
     storedBytes of the training log group (lines per second: bytes ÷ the mean stored message
     length);
     meanwhile a child process calls DescribeTrainingJob in a loop (p50/p99/max latency).

Every endpoint, job and container is removed at the end, also on failure or Ctrl-C. Run with the
client venv's Python: `.venv/bin/python tests/bench/manyjobs.py [--jobs 10 --rate 2000 --seconds
30 --endpoints 20 --lines 1000000]`. Targets (from the issue) are printed for information; nothing
fails because of them. Raw figures go to tests/bench/results/manyjobs.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

from common import base_image, completed_after, model_tar, start_sagebox, stop_sagebox

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
GROUP = "/aws/sagemaker/TrainingJobs"
BODY = b'{"features": [1, 2, 3, 4]}'
SAMPLE_EVERY = 0.5


def build_byo(sagebox: Path) -> str:
    """fixtures/byo on sagebox's base image, tagged by its sources (as the client tests tag it),
    so a changed byo.py is always rebuilt."""
    base = base_image(sagebox)
    digest = hashlib.sha256(base.encode())
    for f in sorted((REPO / "fixtures" / "byo").iterdir()):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    tag = "sagebox-test/byo:" + digest.hexdigest()[:12]
    subprocess.run(["docker", "build", "-q", "--build-arg", "BASE=" + base, "-t", tag, str(REPO / "fixtures" / "byo")],
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


def clients(url: str):
    kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench",
              config=Config(retries={"max_attempts": 1}, max_pool_connections=32, read_timeout=120))
    return (boto3.client("sagemaker", **kw), boto3.client("s3", **kw), boto3.client("logs", **kw),
            boto3.client("sagemaker-runtime", **kw))


def create_flood_job(sm, image: str, bucket: str, name: str, lines: int, rate: float) -> None:
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"mode": "flood", "lines": str(lines), "rate": str(rate)},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 1800},
    )


def job_stream(logs, job: str) -> dict:
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    return streams[0]


def group_bytes(logs) -> int:
    """The training log group's storedBytes (0 before its first job)."""
    groups = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    return next((g["storedBytes"] for g in groups if g["logGroupName"] == GROUP), 0)


def count_events(logs, stream: str, group: str = GROUP, only: tuple[str, ...] = ()) -> int:
    """The events of `stream` (those starting with one of `only`, if given), paged forward with
    GetLogEvents until the token comes back."""
    n, token = 0, None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kw)
        n += sum(1 for e in page["events"] if e["message"].startswith(only)) if only else len(page["events"])
        if page["nextForwardToken"] == token:
            return n
        token = page["nextForwardToken"]


def engine_log_config() -> str:
    """The engine's default logging driver and its options (from daemon.json, where readable)."""
    driver = subprocess.run(["docker", "info", "--format", "{{.LoggingDriver}}"], capture_output=True,
                            text=True).stdout.strip()
    try:
        opts = json.loads(Path("/etc/docker/daemon.json").read_text()).get("log-opts", {})
    except (OSError, ValueError):
        opts = {}
    return driver + (" " + json.dumps(opts) if opts else "")


def put_flood(logs, group: str, stream: str, lines: int) -> None:
    """The flood container's lines, written with PutLogEvents (10,000 a call)."""
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = int(time.time() * 1000) - 60_000
    for start in range(1, lines + 1, 10_000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": base + i // 50, "message": f"needle {i}" if i % 100_000 == 0 else f"flood line {i}"}
            for i in range(start, min(lines, start + 9_999) + 1)])


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return (time.perf_counter() - t0) * 1000


def filter_all(logs, stream: str, group: str) -> tuple[float, float, int, int]:
    """FilterLogEvents for `needle` over one stream until nextToken is absent: (first call ms,
    whole search ms, matches, calls)."""
    t0 = time.perf_counter()
    first, found, calls, token = None, 0, 0, None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=group, logStreamNames=[stream], filterPattern='"needle"', **kw)
        calls += 1
        if first is None:
            first = (time.perf_counter() - t0) * 1000
        found += len(page["events"])
        token = page.get("nextToken")
        if not token:
            return first, (time.perf_counter() - t0) * 1000, found, calls


def ingestion(sm, logs, pid: int, image: str, bucket: str, lines: int, calls: int) -> dict:
    name = "flood-ceiling"
    ticks0 = proc_sample(pid)[1]
    t0 = time.perf_counter()
    create_flood_job(sm, image, bucket, name, lines, 0)
    job_s = completed_after(sm, name, t0)
    cpu_s = (proc_sample(pid)[1] - ticks0) / os.sysconf("SC_CLK_TCK")
    # The job completes once its log writer has drained, so the stream is complete here.
    s = job_stream(logs, name)
    stream = s["logStreamName"]
    stored = count_events(logs, stream)
    flood = count_events(logs, stream, only=("flood line ", "needle "))
    head = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=100)["events"]
    container_start = next(e["timestamp"] for e in head if e["message"].startswith("byo: mode=flood"))
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=100)["events"]
    produced = next((e["message"] for e in reversed(tail) if e["message"].startswith("flood: ")), "")
    window_ms = s["lastIngestionTime"] - container_start
    r = {
        "lines_asked": lines, "events_stored": stored, "flood_lines_stored": flood,
        "stored_bytes": group_bytes(logs),
        "job_create_to_completed_s": job_s, "first_line_to_last_store_ms": window_ms,
        "lines_per_s": stored / (window_ms / 1000), "container_says": produced,
        "engine_log_config": engine_log_config(),
        "sagebox_cpu_s_create_to_completed": cpu_s,
        "sagebox_cpu_pct_of_one_core": 100 * cpu_s / job_s,
    }
    group = GROUP
    # The container's stream is short when the engine rotated its log file away before the
    # follow read it (json-file max-size × max-file in daemon.json; the follow then ends): the
    # reads are then timed on a stream of the same lines written by PutLogEvents, in a group of
    # its own.
    if flood < lines:
        group, stream = "/sagebox-bench/manyjobs", "flood-put"
        put_flood(logs, group, stream, lines)
        r["reads_on"] = f"{group} {stream}: {lines:,} events written by PutLogEvents"
    else:
        r["reads_on"] = f"{GROUP} {stream}: the container's stream"
    r["read_events"] = count_events(logs, stream, group)
    for limit in (100, 10000):
        for end, head_first in (("head", True), ("tail", False)):
            ms = [timed(lambda: logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                    startFromHead=head_first, limit=limit))
                  for _ in range(calls)]
            r[f"get_{end}_{limit}_ms"] = statistics.median(ms)
    runs = [filter_all(logs, stream, group) for _ in range(calls)]
    r["filter_first_ms"] = statistics.median(x[0] for x in runs)
    r["filter_total_ms"] = statistics.median(x[1] for x in runs)
    r["filter_matches"] = runs[0][2]
    r["filter_calls"] = runs[0][3]
    return r


def describe_loop(url: str, jobs: list[str], stop, out) -> None:
    """In a child process (its own GIL): DescribeTrainingJob round the jobs until `stop` is
    set, each call followed by an STS GetCallerIdentity (which touches no state: the same
    client and server path without the Describe, a baseline for the tail). Puts both lists of
    latencies (ms) on `out`."""
    sm = clients(url)[0]
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                       aws_secret_access_key="bench")
    lat, base = [], []
    i = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        sm.describe_training_job(TrainingJobName=jobs[i % len(jobs)])
        t1 = time.perf_counter()
        sts.get_caller_identity()
        t2 = time.perf_counter()
        lat.append((t1 - t0) * 1000)
        base.append((t2 - t1) * 1000)
        i += 1
    out.put((lat, base))


def proc_sample(pid: int) -> tuple[int, int]:
    """(VmRSS in kB, utime+stime in clock ticks) of `pid`."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return rss, int(fields[11]) + int(fields[12])  # utime, stime are fields 14 and 15


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def many_jobs(sm, s3, logs, rt, url: str, pid: int, image: str, bucket: str, args) -> dict:
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=model_tar())
    sm.create_model(ModelName="mj-model", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": image, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"})
    endpoints = [f"mj-ep-{i}" for i in range(args.endpoints)]
    t0 = time.perf_counter()
    for ep in endpoints:
        sm.create_endpoint_config(EndpointConfigName=ep, ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "mj-model", "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=ep, EndpointConfigName=ep)
    for ep in endpoints:
        while (st := sm.describe_endpoint(EndpointName=ep)["EndpointStatus"]) == "Creating":
            time.sleep(0.1)
        if st != "InService":
            raise RuntimeError(f"{ep}: {st}")
    deploy_s = time.perf_counter() - t0

    stop = threading.Event()
    invokes: list[float] = []
    errors: list[str] = []

    def invoker(mine: list[str]) -> None:
        # each endpoint about once a second, spread over the second
        while not stop.is_set():
            for ep in mine:
                t = time.perf_counter()
                try:
                    rt.invoke_endpoint(EndpointName=ep, Body=BODY, ContentType="application/json")["Body"].read()
                    invokes.append((time.perf_counter() - t) * 1000)
                except Exception as e:  # counted and shown, never fatal
                    errors.append(f"{ep}: {type(e).__name__}: {e}")
                stop.wait(max(0.0, 1.0 / len(mine) - (time.perf_counter() - t)))

    threads = 4
    pool = ThreadPoolExecutor(threads)
    futures = [pool.submit(invoker, endpoints[i::threads]) for i in range(threads) if endpoints[i::threads]]
    ctx = multiprocessing.get_context("spawn")
    dstop, dout = ctx.Event(), ctx.Queue()
    # The invokers and the Describe loop stop however this ends (a failure, Ctrl-C), so the
    # script can exit.
    try:
        jobs = [f"mj-job-{i}" for i in range(args.jobs)]
        per_job = args.rate * args.seconds
        samples = []
        bytes0 = group_bytes(logs)
        rss0, ticks0 = proc_sample(pid)
        t_load = time.perf_counter()
        for j in jobs:
            create_flood_job(sm, image, bucket, j, per_job, args.rate)
        # The Describe loop (round the jobs) starts once they all exist.
        describer = ctx.Process(target=describe_loop, args=(url, jobs, dstop, dout), daemon=True)
        describer.start()

        def stored_bytes() -> int:
            # The group's total (streams report 0, as on AWS); only these jobs write to it now.
            return group_bytes(logs) - bytes0

        pending = set(jobs)
        deadline = time.monotonic() + args.seconds * 4 + 120
        next_at = time.perf_counter()
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still running after {args.seconds * 4 + 120} s: {sorted(pending)}")
            rss, ticks = proc_sample(pid)
            samples.append({"t": time.perf_counter() - t_load, "rss_kb": rss, "cpu_ticks": ticks,
                            "stored_bytes": stored_bytes()})
            for j in sorted(pending):
                d = sm.describe_training_job(TrainingJobName=j)
                if d["TrainingJobStatus"] != "InProgress":
                    if d["TrainingJobStatus"] != "Completed":
                        raise RuntimeError(f"{j}: {d['TrainingJobStatus']}: {d.get('FailureReason')}")
                    pending.discard(j)
            next_at += SAMPLE_EVERY
            time.sleep(max(0.0, next_at - time.perf_counter()))
        load_s = time.perf_counter() - t_load
        rss1, ticks1 = proc_sample(pid)
        samples.append({"t": load_s, "rss_kb": rss1, "cpu_ticks": ticks1, "stored_bytes": stored_bytes()})
        dstop.set()
        describe_ms, baseline_ms = dout.get(timeout=60)
        describer.join(timeout=10)
    finally:
        stop.set()
        dstop.set()
        pool.shutdown()
    for f in futures:
        f.result()

    streams = [job_stream(logs, j)["logStreamName"] for j in jobs]
    events = sum(count_events(logs, s) for s in streams)
    mean_len = samples[-1]["stored_bytes"] / events
    rates = []
    for a, b in zip(samples, samples[1:]):
        rates.append((b["stored_bytes"] - a["stored_bytes"]) / mean_len / (b["t"] - a["t"]))
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "jobs": args.jobs, "rate_per_job": args.rate, "seconds": args.seconds, "endpoints": args.endpoints,
        "endpoints_deploy_s": deploy_s, "load_window_s": load_s,
        "rss_before_kb": rss0, "rss_peak_kb": max(s["rss_kb"] for s in samples), "rss_after_kb": rss1,
        "cpu_pct_of_one_core": 100 * (ticks1 - ticks0) / hz / load_s,
        "events_stored": events, "events_expected_at_least": args.jobs * per_job,
        "mean_message_bytes": mean_len,
        "ingest_lines_per_s_peak": max(rates) if rates else 0,
        "ingest_lines_per_s_mean": events / load_s,
        "describe_count": len(describe_ms), "describe_p50_ms": pct(describe_ms, 50),
        "describe_p99_ms": pct(describe_ms, 99), "describe_max_ms": max(describe_ms),
        "sts_p50_ms": pct(baseline_ms, 50), "sts_p99_ms": pct(baseline_ms, 99), "sts_max_ms": max(baseline_ms),
        "invokes": len(invokes), "invoke_errors": len(errors), "invoke_error_examples": errors[:3],
        "invoke_p50_ms": pct(invokes, 50) if invokes else None,
        "invoke_p99_ms": pct(invokes, 99) if invokes else None,
        "samples": samples,
    }


def cleanup(sm, endpoints: list[str]) -> None:
    """Deletes the endpoints and stops the jobs still running, best effort (the server may be
    gone); `stop_sagebox` then removes every container the server owned."""
    for ep in endpoints:
        try:
            sm.delete_endpoint(EndpointName=ep)
        except Exception:
            pass
    try:
        for j in sm.list_training_jobs(StatusEquals="InProgress", MaxResults=100)["TrainingJobSummaries"]:
            sm.stop_training_job(TrainingJobName=j["TrainingJobName"])
    except Exception:
        pass


def interrupted(*_):
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of the ingestion-ceiling job (0: skip)")
    ap.add_argument("--calls", type=int, default=5, help="GetLogEvents / FilterLogEvents calls to take the median of")
    ap.add_argument("--jobs", type=int, default=10)
    ap.add_argument("--rate", type=int, default=2000, help="lines per second per job")
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--endpoints", type=int, default=20)
    args = ap.parse_args()
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    image = build_byo(sagebox)

    signal.signal(signal.SIGTERM, interrupted)  # cleans up as Ctrl-C does
    data = tempfile.mkdtemp(prefix="sagebox-bench-manyjobs-")
    proc, url = start_sagebox(sagebox, data, own_group=True)
    sm, s3, logs, rt = clients(url)
    results: dict = {"sagebox": str(sagebox)}
    try:
        s3.create_bucket(Bucket="bench-manyjobs")
        if args.lines:
            results["ingestion"] = ingestion(sm, logs, proc.pid, image, "bench-manyjobs", args.lines, args.calls)
        if args.jobs:
            results["many"] = many_jobs(sm, s3, logs, rt, url, proc.pid, image, "bench-manyjobs", args)
    finally:
        cleanup(sm, [f"mj-ep-{i}" for i in range(args.endpoints)])
        owner = (Path(data) / "instance-id").read_text().strip()
        stop_sagebox(proc, data)
        left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=sagebox.owner={owner}"],
                              capture_output=True, text=True).stdout.split()
        results["containers_left"] = len(left)

    out = HERE / "results" / "manyjobs.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print()
    print("| many jobs | sagebox | target | met |")
    print("|---|---|---|---|")

    def row(label, value, target="", met=None):
        print(f"| {label} | {value} | {target} | {'' if met is None else ('met' if met else 'not met')} |")

    if "ingestion" in results:
        r = results["ingestion"]
        row(f"ingestion, 1 job printing {r['lines_asked']:,} lines at once (lines/s stored; "
            f"{r['events_stored']:,} events counted by GetLogEvents in {r['first_line_to_last_store_ms'] / 1000:.1f} s)",
            f"{r['lines_per_s']:,.0f}", "≥ 50,000", r["lines_per_s"] >= 50_000)
        row("the container's own print time", r["container_says"].removeprefix("flood: ") or "(its last line is lost)")
        row("sagebox's CPU from Create to Completed (% of one core; CPU-s per 100,000 lines stored)",
            f"{r['sagebox_cpu_pct_of_one_core']:.0f}; "
            f"{r['sagebox_cpu_s_create_to_completed'] * 100_000 / max(r['events_stored'], 1):.2f}")
        if r["flood_lines_stored"] < r["lines_asked"]:
            row("lines lost before sagebox: the engine's log follow ended when the file it read was rotated away "
                f"(logging: {r['engine_log_config']})", f"{r['lines_asked'] - r['flood_lines_stored']:,}", "0", False)
        print(f"| reads below on {r['reads_on']} | | | |")
        for limit in (100, 10000):
            row(f"GetLogEvents head page, limit {limit:,} (median ms)", f"{r[f'get_head_{limit}_ms']:.1f}")
            row(f"GetLogEvents tail page, limit {limit:,} (median ms)", f"{r[f'get_tail_{limit}_ms']:.1f}")
        row(f"FilterLogEvents `\"needle\"`, first call (median ms)", f"{r['filter_first_ms']:.0f}")
        row(f"FilterLogEvents over all {r['read_events']:,} lines, {r['filter_calls']} calls until no "
            f"nextToken, {r['filter_matches']} matches (median ms)", f"{r['filter_total_ms']:.0f}", "≤ 500",
            r["filter_total_ms"] <= 500)
    if "many" in results:
        m = results["many"]
        row(f"{m['jobs']} jobs × {m['rate_per_job']} lines/s × {m['seconds']} s with {m['endpoints']} endpoints "
            f"invoked ~1/s each: load window (s)", f"{m['load_window_s']:.1f}")
        row("peak RSS (MB, VmRSS every 0.5 s)", f"{m['rss_peak_kb'] / 1024:.0f} (before {m['rss_before_kb'] / 1024:.0f})",
            "≤ 200", m["rss_peak_kb"] / 1024 <= 200)
        row("CPU (% of one core over the load window)", f"{m['cpu_pct_of_one_core']:.0f}")
        row(f"log lines stored per second, {m['jobs']} streams (peak 0.5 s sample / mean)",
            f"{m['ingest_lines_per_s_peak']:,.0f} / {m['ingest_lines_per_s_mean']:,.0f}",
            f"{m['jobs'] * m['rate_per_job']:,} offered")
        row(f"DescribeTrainingJob in a loop, {m['describe_count']:,} calls: p50 / p99 / max (ms)",
            f"{m['describe_p50_ms']:.1f} / {m['describe_p99_ms']:.1f} / {m['describe_max_ms']:.1f}", "p99 ≤ 10",
            m["describe_p99_ms"] <= 10)
        row("the same client's STS GetCallerIdentity between them (no state; the tail's baseline): p50 / p99 / max",
            f"{m['sts_p50_ms']:.1f} / {m['sts_p99_ms']:.1f} / {m['sts_max_ms']:.1f}")
        row(f"InvokeEndpoint, {m['invokes']:,} calls: p50 / p99 (ms), errors",
            f"{m['invoke_p50_ms'] or 0:.1f} / {m['invoke_p99_ms'] or 0:.1f}, {m['invoke_errors']}")
    row("containers left behind", results["containers_left"], "0", results["containers_left"] == 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
