#!/usr/bin/env python3
"""`make bench` (last part): the speed targets in one table, read from what the bench scripts
wrote to tests/bench/results/ in this run (bench.py: latest.json, waits.py: waits.json,
manyjobs.py: manyjobs.json).

Each row: sagebox's figure, the figure it is measured against in the same run (fakecloud, the
ingest ceiling, the same binary with `--describe-hold 0`, or the target alone), the ratio, the
target and whether it was met on this machine. Nothing fails because of a target; a row whose
inputs are missing says so.

Run: `python3 tests/bench/targets.py` (no dependencies).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict:
    path = RESULTS / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def fmt(value, spec: str) -> str:
    return "–" if value is None else spec.format(value)


def main() -> int:
    bench, waits, many = load("latest.json"), load("waits.json"), load("manyjobs.json")
    api = bench.get("results", {})
    s3 = bench.get("s3", {})
    ceiling = bench.get("ingest_ceiling_mb_s") or None

    def peer(results: dict, name: str, key: str):
        r = results.get(name, {})
        return None if "error" in r else r.get(key)

    rows: list[list[str]] = []

    def row(what: str, ours, against: str, theirs, spec: str, target: str, met):
        """`met(ours, theirs)` says whether the target holds (None when a figure is missing)."""
        have = ours is not None and (theirs is not None or against == "")
        r = ours / theirs if ours is not None and theirs else None
        ratio = "–" if r is None else f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"
        verdict = ("met" if met(ours, theirs) else "**not met**") if have else "not measured"
        rows.append([what, fmt(ours, spec), against or "–", fmt(theirs, spec), ratio, target, verdict])

    fc = "fakecloud"
    for what, key, spec in (("S3 4 KiB GET (ops/s)", "small_get_ops", "{:,.0f}"),
                            ("S3 4 KiB PUT (ops/s)", "small_put_ops", "{:,.0f}"),
                            ("S3 large GET, 4 ranged curl (MB/s)", "big_get_mb_s", "{:,.0f}")):
        row(what, peer(s3, "sagebox", key), fc, peer(s3, fc, key), spec, "≥ 1.0× fakecloud",
            lambda a, b: a >= b)
    row("S3 big PUT, 8 parallel curl (MB/s)", peer(s3, "sagebox", "big_put_mb_s"), "ingest ceiling", ceiling,
        "{:,.0f}", "≥ 0.80× the ingest ceiling", lambda a, b: a >= 0.8 * b)
    row("server CPU per 100k DescribeModel (s)", peer(api, "sagebox", "cpu_s_per_100k"), fc,
        peer(api, fc, "cpu_s_per_100k"), "{:.2f}", "≤ 0.7× fakecloud's", lambda a, b: a <= 0.7 * b)
    row("server CPU per 100k 4 KiB GET (s)", peer(s3, "sagebox", "small_get_cpu_s_per_100k"), fc,
        peer(s3, fc, "small_get_cpu_s_per_100k"), "{:.2f}", "≤ 1.0× fakecloud's", lambda a, b: a <= b)

    def held(key: str):
        values = waits.get("held", {}).get(key)
        return statistics.median(values) if values else None

    def plain(key: str):
        values = waits.get("hold 0", {}).get(key)
        return statistics.median(values) if values else None

    hold0 = "--describe-hold 0"
    row("SDK v2 Model.deploy(), image present (s)", held("deploy"), hold0, plain("deploy"), "{:.2f}", "≤ 3 s",
        lambda a, b: a <= 3)
    row("endpoint_in_service waiter (`aws sagemaker wait endpoint-in-service`): s after InService",
        held("after"), hold0, plain("after"), "{:.2f}", "≤ 2 s", lambda a, b: a <= 2)
    row("notebook_instance_in_service waiter: s after InService", held("notebook_after"), hold0,
        plain("notebook_after"), "{:.2f}", "≤ 2 s", lambda a, b: a <= 2)
    row("training_job_completed_or_stopped waiter: s after the job's end", held("job_after"), hold0,
        plain("job_after"), "{:.2f}", "≤ 2 s", lambda a, b: a <= 2)

    ing, load_ = many.get("ingestion", {}), many.get("many", {})
    rss = load_.get("rss_peak_kb")
    row("many jobs: sagebox peak RSS (MB)", rss / 1024 if rss else None, "", None, "{:.0f}", "≤ 200 MB",
        lambda a, b: a <= 200)
    row("many jobs: log lines ingested per second (one job printing 1M lines)", ing.get("lines_per_s"), "", None,
        "{:,.0f}", "≥ 50,000", lambda a, b: a >= 50_000)
    row("many jobs: DescribeTrainingJob p99 under load (ms)", load_.get("describe_p99_ms"), "", None, "{:.1f}",
        "≤ 10 ms", lambda a, b: a <= 10)
    row("many jobs: FilterLogEvents over 1,000,000 lines (ms)", ing.get("filter_total_ms"), "", None, "{:.0f}",
        "≤ 500 ms", lambda a, b: a <= 500)

    print()
    print("| target row | sagebox | against | its figure | sagebox ÷ its figure | target | on this machine |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if held("deploy_first_describe") is not None:
        print(f"\nSDK v2 deploy(), where its {held('deploy'):.2f} s went: the endpoint was InService "
              f"{held('deploy_in_service'):.2f} s after CreateEndpoint answered; the SDK's first "
              f"DescribeEndpoint came {held('deploy_first_describe'):.2f} s after it (the SDK sleeps its "
              f"poll before the first look); deploy() returned {held('deploy_after'):.2f} s after InService.")
    import time
    written = [f"{name} {time.strftime('%Y-%m-%d %H:%M', time.gmtime((RESULTS / name).stat().st_mtime))}"
               for name in ("latest.json", "waits.json", "manyjobs.json") if (RESULTS / name).exists()]
    print(f"\nfrom tests/bench/results/ (UTC): {', '.join(written) or 'nothing yet'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
