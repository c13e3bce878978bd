#!/usr/bin/env python3
"""Instructions per request under `valgrind --tool=callgrind`: a figure that repeats run to run
(it counts instructions, not seconds), so a regression in the request path shows up whatever else
the machine is doing.

For each kind of request (DescribeModel, ListModels with a page of 10, 4 KiB S3 PUT and GET, sent
as the wrk loads of bench.py send them, on one keep-alive connection), two servers run under
callgrind on fresh data directories, each doing the same setup and warm-up; the second then
answers --requests more requests of that kind. The difference of their instruction totals, divided
by --requests, is the cost of one request: start-up, setup and shut-down cancel out.

With --profile N, the N functions whose self instructions grew most from the first run to the
second are printed too, per request: where one request's instructions go (output files are kept
under tests/bench/results/callgrind/ for `callgrind_annotate`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
# The same shape as describe_model.lua / list_models.lua: awsJson 1.1 with a SigV4-shaped header
# (open mode accepts any credentials).
SM_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, "
                     "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "0" * 64,
}
KINDS = ["DescribeModel", "ListModels", "S3 PUT 4 KiB", "S3 GET 4 KiB"]
WARMUP = 20


def start(sagebox: Path, data_dir: str, out_file: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--dump-instr=no",
         str(sagebox), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SAGEBOX_LOG": "warn"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sagebox under valgrind exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/_sagebox/health")
            c.getresponse().read()
            c.close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("sagebox under valgrind did not answer within 120 s")


def setup(port: int) -> dict:
    """The models and the object the requests read; returns each kind's request."""
    url = f"http://127.0.0.1:{port}"
    creds = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sm = boto3.client("sagemaker", endpoint_url=url, **creds)
    sm.create_model(ModelName="bench-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "bench"})
    for i in range(12):  # ListModels answers a page of 10 out of 12, as in bench.py
        sm.create_model(ModelName=f"bench-list-{i}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "bench"})
    s3 = boto3.client("s3", endpoint_url=url, **creds)
    s3.create_bucket(Bucket="bench")
    s3.put_object(Bucket="bench", Key="small", Body=b"x" * 4096)
    # Presigned URLs far enough ahead that both runs of a kind send byte-identical requests.
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": "small"}, ExpiresIn=3600)
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "small"}, ExpiresIn=3600)

    def path_of(u: str) -> str:
        p = urllib.parse.urlsplit(u)
        return p.path + "?" + p.query

    return {
        "DescribeModel": ("POST", "/", b'{"ModelName":"bench-model"}',
                          {**SM_HEADERS, "X-Amz-Target": "SageMaker.DescribeModel"}),
        "ListModels": ("POST", "/", b'{"MaxResults":10}', {**SM_HEADERS, "X-Amz-Target": "SageMaker.ListModels"}),
        "S3 PUT 4 KiB": ("PUT", path_of(put_url), b"x" * 4096, {"Content-Type": "application/octet-stream"}),
        "S3 GET 4 KiB": ("GET", path_of(get_url), None, {}),
    }


def send(port: int, req: tuple, n: int) -> None:
    method, path, body, headers = req
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {r.status}")
    c.close()


def total_ir(out_file: Path) -> int:
    """The instruction total of a finished callgrind run (its `totals:` or `summary:` line)."""
    text = out_file.read_text(errors="replace")
    m = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if not m:
        raise RuntimeError(f"{out_file}: no totals line")
    return int(m.group(1))


def run_once(sagebox: Path, kind: str, requests: int, out_file: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="sagebox-callgrind-") as d:
        proc, port = start(sagebox, d, out_file)
        try:
            reqs = setup(port)
            send(port, reqs[kind], WARMUP)
            if requests:
                send(port, reqs[kind], requests)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return total_ir(out_file)


def function_costs(out_file: Path) -> dict[str, int]:
    """Self instructions by function over a whole run (callgrind_annotate's table)."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", str(out_file)],
                         capture_output=True, text=True).stdout
    costs: dict[str, int] = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in m.group(2) and not m.group(2).startswith("=>"):
            name = re.sub(r" \[[^\]]*\]$", "", m.group(2))  # the object file
            name = re.sub(r"^\S*?\.(?:c|rs|S|h):", "", name)  # the source file (inlined code is merged)
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def top_functions(base: Path, full: Path, requests: int, count: int) -> list[str]:
    """The functions whose self cost grew most from the run without the measured requests to
    the run with them, per request: where one request's instructions go."""
    before, after = function_costs(base), function_costs(full)
    grown = sorted(((after[f] - before.get(f, 0), f) for f in after), reverse=True)
    return [f"{d / requests:>9,.0f}  {f}" for d, f in grown[:count] if d > 0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200, help="measured requests per kind (default 200)")
    ap.add_argument("--only", help="comma-separated subset of: " + ", ".join(KINDS))
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the N functions that take most of each kind's instructions per request")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        print("callgrind: valgrind is required (apt-get install valgrind)", file=sys.stderr)
        return 2
    sagebox = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    symbols = REPO / "target" / "profiling" / "sagebox"
    if args.profile and symbols.exists():
        sagebox = symbols  # the same code with its symbols, so functions have names
    if not sagebox.exists():
        print(f"callgrind: {sagebox} is missing: run `cargo build --release`", file=sys.stderr)
        return 2
    kinds = [k.strip() for k in args.only.split(",")] if args.only else KINDS
    out_dir = HERE / "results" / "callgrind"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for kind in kinds:
        slug = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-")
        print(f"callgrind: {kind}: a server with setup and {WARMUP} warm-up requests, then one with "
              f"{args.requests} more", flush=True)
        base = run_once(sagebox, kind, 0, out_dir / f"{slug}.base.out")
        full = run_once(sagebox, kind, args.requests, out_dir / f"{slug}.out")
        results[kind] = {"base_ir": base, "full_ir": full, "ir_per_request": (full - base) / args.requests}
        if args.profile:
            results[kind]["top"] = top_functions(out_dir / f"{slug}.base.out", out_dir / f"{slug}.out",
                                                 args.requests, args.profile)

    print()
    print("| request (one keep-alive connection) | instructions per request |")
    print("|---|---|")
    for kind, r in results.items():
        print(f"| {kind} | {r['ir_per_request']:,.0f} |")
    print(f"\nvalgrind --tool=callgrind on {sagebox.name}; each figure is (run with {args.requests} more "
          f"requests − run without) ÷ {args.requests}")
    for kind, r in results.items():
        if r.get("top"):
            print(f"\n{kind}: where one request's instructions go (self instructions per request, by function)")
            for line in r["top"]:
                print("  " + line.strip())
    (HERE / "results" / "callgrind.json").write_text(json.dumps(
        {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "requests": args.requests,
         "binary": str(sagebox), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
