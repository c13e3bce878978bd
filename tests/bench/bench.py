#!/usr/bin/env python3
"""`make bench`: sagebox beside its peers (moto's server, fakecloud) in one run.

Measures, for each server started fresh on 127.0.0.1 with an empty state directory:
  * cold start: process spawn to the first HTTP answer (median of --starts runs),
  * idle RSS: VmRSS one second after the first answer,
  * DescribeModel throughput and latency under a fixed load (wrk, --connections, --duration),
    ListModels throughput, and the server's CPU-seconds per 100,000 requests of each (from
    /proc/<pid>/stat: a figure that does not depend on wrk sharing the cores), and the same for
    4 KiB S3 PUT and GET.
Prints a markdown table with ratios and writes tests/bench/results/latest.json.
Targets are printed for information; the bench never fails because of them.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = REPO / ".venv-bench"
CACHE = Path(os.environ.get("SAGEBOX_BENCH_CACHE", Path.home() / ".cache" / "sagebox-bench"))
FAKECLOUD_ROOT = CACHE / "fakecloud"
FAKECLOUD_BIN = FAKECLOUD_ROOT / "bin" / "fakecloud"
FAKECLOUD_INSTALL = ["cargo", "install", "fakecloud", "--locked", "--root", str(FAKECLOUD_ROOT), "-j", "1"]
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


def ensure_venv() -> None:
    """Re-runs this script inside .venv-bench (created on first use) so boto3 and moto are pinned."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    stamp = VENV / ".ok"
    req = HERE / "requirements.txt"
    if not stamp.exists() or stamp.stat().st_mtime < req.stat().st_mtime:
        print(f"bench: preparing {VENV.name} (boto3, moto[server]) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", str(req)], check=True)
        stamp.touch()
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 0.5) -> int | None:
    """One GET over a raw socket; the status code, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
    except OSError:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(m.group(1)) if m else None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Peer:
    name: str
    argv: callable  # (port, data_dir) -> list[str]
    ready_path: str
    note: str = ""
    env: dict = field(default_factory=dict)
    available: bool = True

    def start(self, port: int, data_dir: str) -> subprocess.Popen:
        env = {**os.environ, **self.env}
        return subprocess.Popen(
            self.argv(port, data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (and the children it waited for) has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based from pid
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def per_100k(pid: int, run) -> dict:
    """Runs `run()` (a wrk load returning parse_wrk's dict) and adds the server's CPU-seconds per
    100,000 answered requests: a figure that does not depend on the load generator sharing the
    cores."""
    before = cpu_seconds(pid)
    res = run()
    used = cpu_seconds(pid) - before
    res["cpu_s_per_100k"] = 100_000 * used / res["requests"] if res.get("requests") else None
    return res


def median_run(rounds: int, run) -> dict:
    """Runs a load `rounds` times; the run with the median throughput (its errors and CPU
    figure with it), so one disturbed run moves neither."""
    runs = sorted((run() for _ in range(max(1, rounds))), key=lambda r: r["requests_per_s"])
    return runs[len(runs) // 2]


def wait_ready(peer: Peer, proc: subprocess.Popen, port: int, limit: float = 60.0) -> float:
    """Polls every millisecond; returns seconds from spawn to the first HTTP answer."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"{peer.name} exited with {proc.returncode} before answering")
        if http_status(port, peer.ready_path, timeout=0.2) is not None:
            return time.perf_counter() - t0
        time.sleep(0.001)
    raise RuntimeError(f"{peer.name} did not answer within {limit:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cold_start(peer: Peer, starts: int) -> float:
    times = []
    for _ in range(starts):
        with tempfile.TemporaryDirectory(prefix="sagebox-bench-") as d:
            port = free_port()
            # Spawn time is counted from just before Popen, so process creation is included.
            t0 = time.perf_counter()
            proc = peer.start(port, d)
            try:
                wait_ready(peer, proc, port)
                times.append(time.perf_counter() - t0)
            finally:
                stop(proc)
    return statistics.median(times) * 1000


def parse_wrk(out: str) -> dict:
    def dur_ms(v: str) -> float:
        num, unit = re.match(r"([\d.]+)(us|ms|s|m)", v).groups()
        return float(num) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    res = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = dur_ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["errors"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(map(int, m.groups())) if m else 0
    return res


def describe_model_load(peer: Peer, duration: int, connections: int) -> tuple[float, dict]:
    import boto3  # from .venv-bench

    with tempfile.TemporaryDirectory(prefix="sagebox-bench-") as d:
        port = free_port()
        proc = peer.start(port, d)
        try:
            wait_ready(peer, proc, port)
            time.sleep(1.0)
            idle = rss_mb(proc.pid)
            sm = boto3.client(
                "sagemaker",
                endpoint_url=f"http://127.0.0.1:{port}",
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            sm.create_model(ModelName="bench-model", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "bench"})
            assert sm.describe_model(ModelName="bench-model")["ModelName"] == "bench-model"
            for i in range(12):  # ListModels answers a page of 10 out of 12
                sm.create_model(ModelName=f"bench-list-{i}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "bench"})

            def wrk(script):
                return parse_wrk(subprocess.run(
                    ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
                     "-s", str(HERE / script), f"http://127.0.0.1:{port}/"],
                    check=True, capture_output=True, text=True,
                ).stdout)

            load = per_100k(proc.pid, lambda: wrk("describe_model.lua"))
            listed = per_100k(proc.pid, lambda: wrk("list_models.lua"))
            load["list_requests_per_s"] = listed["requests_per_s"]
            load["list_cpu_s_per_100k"] = listed["cpu_s_per_100k"]
            load["list_errors"] = listed["errors"]
            load["rss_after_load_mb"] = rss_mb(proc.pid)
            return idle, load
        finally:
            stop(proc)


def vm_hwm_mb(pid: int) -> float:
    """Peak RSS of the process so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_fsync_mb_s(directory: str, mib: int) -> float:
    """Sequential write bandwidth with a final fsync, as dd measures it, on the data dir's disk."""
    target = Path(directory) / "dd-probe"
    out = subprocess.run(
        ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fsync"],
        capture_output=True, text=True, check=True,
    ).stderr
    target.unlink()
    m = re.search(r"copied, ([\d.]+) s", out)
    return mib / float(m.group(1))


def make_parts(directory: str, mib: int) -> list[Path]:
    """`mib` MiB of random bytes as 16 MiB part files (the last one shorter)."""
    parts = []
    for i in range(0, mib, 16):
        parts.append(Path(directory) / f"part.{i // 16:03d}")
        parts[-1].write_bytes(os.urandom(min(16, mib - i) * 1024 * 1024))
    return parts


class Sink:
    """`examples/ingest_sink.rs`: a server that only writes each body to a file and fdatasyncs it (no
    MD5, no S3). The same parallel curl uploads as the big PUT, into it, give the ingest ceiling."""

    def __init__(self, directory: str):
        exe = REPO / "target" / "release" / "examples" / "ingest_sink"
        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "ingest_sink"], cwd=REPO, check=True)
        self.out = Path(directory) / "sink"
        self.out.mkdir()
        self.port = free_port()
        self.proc = subprocess.Popen([str(exe), str(self.port), str(self.out)])
        for _ in range(100):
            if http_status(self.port, "/") is not None:
                break
            time.sleep(0.05)

    def upload_mb_s(self, parts: list[Path], mib: int, parallel: int = 8) -> float:
        urls = [f"http://127.0.0.1:{self.port}/{i}" for i in range(len(parts))]
        t0 = time.perf_counter()
        curl_put_files(parts, urls, parallel)
        took = time.perf_counter() - t0
        for f in self.out.iterdir():
            f.unlink()
        return mib / took

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def wrk_s3(url: str, method: str, body_bytes: int, duration: int, connections: int) -> dict:
    env = {**os.environ, "S3_METHOD": method, "S3_BODY_BYTES": str(body_bytes)}
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(HERE / "s3_op.lua"), url],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return parse_wrk(out)


def curl_put_files(files: list[Path], urls: list[str], parallel: int) -> list[str]:
    """PUTs each file to its URL with `curl -T` (straight from the file), `parallel` at a time;
    returns each answer's headers."""
    def put(i: int) -> str:
        return subprocess.run(["curl", "-sf", "-D", "-", "-o", "/dev/null", "-T", str(files[i]), urls[i]],
                              check=True, capture_output=True, text=True).stdout

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(put, range(len(files))))


def curl_multipart_put(s3, parts: list[Path], parallel: int = 8) -> float:
    """Seconds to upload `parts` as one multipart object (`bench/big`): presigned UploadPart URLs,
    `parallel` curl processes at a time, then CompleteMultipartUpload. curl sends straight from
    the file, so the client is not what limits the figure."""
    upload = s3.create_multipart_upload(Bucket="bench", Key="big")["UploadId"]
    urls = [s3.generate_presigned_url("upload_part", Params={"Bucket": "bench", "Key": "big", "UploadId": upload,
                                                             "PartNumber": n}) for n in range(1, len(parts) + 1)]

    t0 = time.perf_counter()
    heads = curl_put_files(parts, urls, parallel)
    done = [{"PartNumber": n, "ETag": next(l.split(":", 1)[1].strip() for l in head.splitlines()
                                           if l.lower().startswith("etag:"))}
            for n, head in enumerate(heads, start=1)]
    s3.complete_multipart_upload(Bucket="bench", Key="big", UploadId=upload, MultipartUpload={"Parts": done})
    return time.perf_counter() - t0


def curl_ranged_get(s3, size: int, streams: int = 4) -> float:
    """Seconds to read `bench/big` as `streams` parallel ranged GETs into /dev/null (curl)."""
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "big"})
    step = -(-size // streams)

    def get(i: int) -> int:
        end = min(size, (i + 1) * step) - 1
        out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", "-r", f"{i * step}-{end}",
                              url], check=True, capture_output=True, text=True).stdout
        return int(out)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        got = sum(pool.map(get, range(streams)))
    elapsed = time.perf_counter() - t0
    if got != size:
        raise RuntimeError(f"ranged GETs returned {got} bytes of {size}")
    return elapsed


def s3_load(selected: list[Peer], big_mib: int, duration: int, connections: int,
            rounds: int) -> tuple[dict, float]:
    """Every available peer's S3 figures, and the ingest ceiling, measured side by side: all the
    servers run at once (idle while another is measured), and each round measures each of them in
    turn, so a change in the host over the minutes of a run (another tenant, the disk's cache)
    falls on every server alike rather than on whichever ran then. Big PUT and GET by curl
    (presigned URLs, parallel; the best of `rounds`), boto3's transfer manager once each, then 4 KiB
    PUT/GET load (the median of `rounds` runs). Returns ({peer: figures}, ingest ceiling MB/s)."""
    import boto3
    from boto3.s3.transfer import TransferConfig

    results: dict[str, dict] = {}
    running: dict[str, tuple[subprocess.Popen, object]] = {}
    with tempfile.TemporaryDirectory(prefix="sagebox-bench-") as d:
        sink = Sink(d)
        try:
            for peer in selected:
                if not peer.available:
                    results[peer.name] = {"error": peer.note}
                    continue
                data = Path(d) / peer.name
                data.mkdir()
                port = free_port()
                proc = peer.start(port, str(data))
                running[peer.name] = (proc, None)
                try:
                    wait_ready(peer, proc, port)
                    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                      aws_access_key_id="test", aws_secret_access_key="test")
                    s3.create_bucket(Bucket="bench")
                    running[peer.name] = (proc, s3)
                    results[peer.name] = {}
                except Exception as e:
                    results[peer.name] = {"error": f"{type(e).__name__}: {e}"}
            live = lambda: [n for n in running if "error" not in results[n]]  # noqa: E731

            def each(what: str, measure) -> dict[str, list]:
                """`rounds` rounds of `measure(name, proc, s3)` over every live peer in turn."""
                got: dict[str, list] = {n: [] for n in live()}
                for r in range(rounds):
                    print(f"bench: S3 {what}, round {r + 1} of {rounds}", flush=True)
                    for n in live():
                        proc, s3 = running[n]
                        try:
                            got[n].append(measure(n, proc, s3))
                        except Exception as e:  # a peer that fails is reported, not fatal
                            results[n] = {"error": f"{what}: {type(e).__name__}: {e}"}
                return got

            parts = make_parts(d, big_mib)
            size = sum(p.stat().st_size for p in parts)
            ceiling_runs: list[float] = []

            def put(n, proc, s3):
                if n == "sagebox":  # the ceiling beside sagebox's upload, in every round
                    ceiling_runs.append(sink.upload_mb_s(parts, big_mib))
                return big_mib / curl_multipart_put(s3, parts)

            puts = each(f"{big_mib} MiB multipart PUT (and the ingest sink)", put)
            gets = each(f"{big_mib} MiB ranged GET", lambda n, proc, s3: big_mib / curl_ranged_get(s3, size))
            src = Path(d) / "big.src"
            with open(src, "wb") as f:
                for p in parts:
                    f.write(p.read_bytes())
                    p.unlink()
            cfg = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                                 max_concurrency=8)
            for n in live():
                proc, s3 = running[n]
                try:
                    t0 = time.perf_counter()
                    s3.upload_file(str(src), "bench", "big", Config=cfg)
                    put_s = time.perf_counter() - t0
                    dst = Path(d) / "big.dst"
                    t0 = time.perf_counter()
                    s3.download_file("bench", "big", str(dst), Config=cfg)
                    get_s = time.perf_counter() - t0
                    if dst.stat().st_size != size:
                        raise RuntimeError("the downloaded object has the wrong size")
                    dst.unlink()
                    results[n].update({
                        "big_put_mb_s": max(puts[n]),
                        "big_get_mb_s": max(gets[n]),
                        "big_put_runs_mb_s": puts[n],
                        "big_get_runs_mb_s": gets[n],
                        "big_put_boto3_mb_s": big_mib / put_s,
                        "big_get_boto3_mb_s": big_mib / get_s,
                        "big_peak_rss_mb": vm_hwm_mb(proc.pid),
                    })
                except Exception as e:
                    results[n] = {"error": f"boto3 transfers: {type(e).__name__}: {e}"}
            src.unlink()
            urls = {}
            for n in live():
                s3 = running[n][1]
                s3.put_object(Bucket="bench", Key="small", Body=b"x" * 4096)
                urls[n] = {m: s3.generate_presigned_url(f"{m.lower()}_object", Params={"Bucket": "bench", "Key": "small"})
                           for m in ("PUT", "GET")}
            # The median of `rounds` loads each: one 10-s run of the same server moved by half
            # between runs (fakecloud's PUT: 4,738 and 7,594 ops/s), more than the servers differ.
            small = {m: each(f"4 KiB {m}", lambda n, proc, s3, m=m: per_100k(
                proc.pid, lambda: wrk_s3(urls[n][m], m, 4096 if m == "PUT" else 0, duration, connections)))
                for m in ("PUT", "GET")}
            for n in live():
                pick = {m: sorted(small[m][n], key=lambda r: r["requests_per_s"])[len(small[m][n]) // 2]
                        for m in ("PUT", "GET")}
                results[n].update({
                    "small_put_ops": pick["PUT"]["requests_per_s"],
                    "small_put_errors": pick["PUT"]["errors"] + pick["PUT"]["socket_errors"],
                    "small_get_ops": pick["GET"]["requests_per_s"],
                    "small_get_errors": pick["GET"]["errors"] + pick["GET"]["socket_errors"],
                    "small_put_cpu_s_per_100k": pick["PUT"]["cpu_s_per_100k"],
                    "small_get_cpu_s_per_100k": pick["GET"]["cpu_s_per_100k"],
                    "peak_rss_mb": vm_hwm_mb(running[n][0].pid),
                })
            if "sagebox" in results and "error" not in results["sagebox"]:
                results["sagebox"]["ingest_ceiling_runs_mb_s"] = ceiling_runs
            return results, max(ceiling_runs, default=0.0)
        finally:
            sink.close()
            for proc, _ in running.values():
                stop(proc)


def peers(sagebox_bin: Path, install_fakecloud: bool) -> list[Peer]:
    moto_py = str(VENV / "bin" / "python")
    result = [
        Peer("sagebox", lambda p, d: [str(sagebox_bin), "serve", "--bind", f"127.0.0.1:{p}", "--data-dir", d],
             "/_sagebox/health", env={"SAGEBOX_LOG": "warn"}),
        Peer("moto", lambda p, d: [moto_py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(p)], "/moto-api/"),
    ]
    if not FAKECLOUD_BIN.exists() and install_fakecloud:
        print("bench: installing fakecloud (long on 2 cores): " + " ".join(FAKECLOUD_INSTALL), flush=True)
        subprocess.run(FAKECLOUD_INSTALL, check=True)
    fc = Peer("fakecloud", fakecloud_argv, "/_fakecloud/health", available=FAKECLOUD_BIN.exists(),
              env={"FAKECLOUD_LOG": "warn"})
    if not fc.available:
        fc.note = f"not installed: SAGEBOX_BENCH_INSTALL_FAKECLOUD=1 make bench (runs: {' '.join(FAKECLOUD_INSTALL)})"
    result.append(fc)
    return result


def fakecloud_argv(port: int, data_dir: str) -> list[str]:
    # fakecloud keeps its state in memory by default (its --storage-mode); the data dir is unused.
    return [str(FAKECLOUD_BIN), "--addr", f"127.0.0.1:{port}"]


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.1f}×"


def table(results: dict, order: list[str]) -> str:
    base = results["sagebox"]
    others = [n for n in order if n != "sagebox" and "error" not in results[n]]
    cols = order + [f"sagebox vs {n}" for n in others] + ["sagebox target"]
    lines = ["| metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]

    def row(label, key, fmt, better_low, target, compare=True):
        cells = []
        for n in order:
            r = results[n]
            cells.append("n/a" if "error" in r else fmt.format(r[key]) if r.get(key) is not None else "–")
        for n in others:
            a, b = base.get(key), results[n].get(key)
            if not (compare and a and b):
                cells.append("–")
            elif better_low:
                cells.append(ratio(b, a))
            else:
                cells.append(ratio(a, b))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row("cold start to first answer (ms, median)", "start_ms", "{:.1f}", True, "≤ 20 ms")
    row("idle RSS (MB)", "idle_rss_mb", "{:.1f}", True, "≤ 10 MB")
    row("DescribeModel throughput (req/s)", "requests_per_s", "{:,.0f}", False, "≥ 50× moto, > fakecloud")
    row("DescribeModel latency p50 (ms)", "p50_ms", "{:.2f}", True, "")
    row("DescribeModel latency p99 (ms)", "p99_ms", "{:.2f}", True, "")
    row("DescribeModel server CPU per 100k requests (s)", "cpu_s_per_100k", "{:.2f}", True,
        "≤ 0.7× fakecloud's")
    row("ListModels throughput (req/s)", "list_requests_per_s", "{:,.0f}", False, "")
    row("ListModels server CPU per 100k requests (s)", "list_cpu_s_per_100k", "{:.2f}", True, "")
    row("non-2xx responses under load", "errors", "{:,}", True, "0", compare=False)
    row("RSS after load (MB)", "rss_after_load_mb", "{:.1f}", True, "", compare=False)
    return "\n".join(lines)


def s3_table(results: dict, order: list[str], disk: float, ceiling: float, mib: int) -> str:
    base = results["sagebox"]
    others = [n for n in order if n != "sagebox" and "error" not in results[n]]
    cols = order + [f"sagebox vs {n}" for n in others] + ["sagebox target"]
    lines = ["| S3 metric | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]

    def row(label, key, fmt, higher_better, target, compare=True):
        cells = ["n/a" if "error" in results[n] else "–" if results[n].get(key) is None
                 else fmt.format(results[n][key]) for n in order]
        for n in others:
            a, b = base.get(key), results[n].get(key)
            if not (compare and a and b):
                cells.append("–")
            elif higher_better:
                cells.append(ratio(a, b))
            else:
                cells.append(ratio(b, a))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row(f"{mib} MiB multipart PUT, 8 parallel curl (MB/s)", "big_put_mb_s", "{:,.0f}", True,
        f"≥ 70% of disk fsync write ({0.7 * disk:,.0f} MB/s)")
    row(f"{mib} MiB GET, 4 parallel ranged curl (MB/s)", "big_get_mb_s", "{:,.0f}", True, "≥ 1,000 MB/s")
    row(f"{mib} MiB upload_file, boto3 (MB/s)", "big_put_boto3_mb_s", "{:,.0f}", True, "")
    row(f"{mib} MiB download_file, boto3 (MB/s)", "big_get_boto3_mb_s", "{:,.0f}", True, "")
    row(f"peak RSS after the {mib} MiB transfers (MB)", "big_peak_rss_mb", "{:.1f}", False, "flat")
    row("4 KiB PUT, 16 connections (ops/s)", "small_put_ops", "{:,.0f}", True, "≥ 5,000")
    row("4 KiB GET, 16 connections (ops/s)", "small_get_ops", "{:,.0f}", True, "")
    row("4 KiB PUT server CPU per 100k (s)", "small_put_cpu_s_per_100k", "{:.2f}", False, "")
    row("4 KiB GET server CPU per 100k (s)", "small_get_cpu_s_per_100k", "{:.2f}", False,
        "≤ 1.0× fakecloud's")
    row("4 KiB PUT: non-2xx or socket errors", "small_put_errors", "{:,}", False, "0", compare=False)
    row("4 KiB GET: non-2xx or socket errors", "small_get_errors", "{:,}", False, "0", compare=False)
    put = base.get("big_put_mb_s")
    share = f"; sagebox's PUT is {put / disk:.0%} of the disk and {put / ceiling:.0%} of the ingest ceiling" \
        if put and disk and ceiling else ""
    # Each round uploads into the sink and then into sagebox, back to back: the rounds side by
    # side show how far the host moved between them.
    sink_runs, put_runs = base.get("ingest_ceiling_runs_mb_s") or [], base.get("big_put_runs_mb_s") or []
    if sink_runs and len(sink_runs) == len(put_runs):
        share += "\nbig PUT by round, sink / sagebox (MB/s): " + ", ".join(
            f"{a:,.0f} / {b:,.0f} ({b / a:.2f}×)" for a, b in zip(sink_runs, put_runs))
    return "\n".join(lines) + (
        f"\n\ndisk: {disk:,.0f} MB/s sequential write with fsync (dd, same filesystem, same run)"
        f"\ningest ceiling: {ceiling:,.0f} MB/s (the same 8 parallel curl uploads into examples/ingest_sink.rs, "
        f"which only writes and fdatasyncs each body: the host's network-plus-disk path with no MD5){share}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated subset of sagebox,moto,fakecloud")
    ap.add_argument("--duration", type=int, default=10, help="seconds of load per server (default 10)")
    ap.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    ap.add_argument("--starts", type=int, default=5, help="cold starts per server (default 5)")
    ap.add_argument("--s3-object-mib", type=int, default=256, help="size of the large S3 object (default 256)")
    ap.add_argument("--skip-s3", action="store_true", help="leave out the S3 measurements")
    ap.add_argument("--rounds", type=int, default=3,
                    help="big PUTs and GETs per server, and uploads into the ingest sink; the best counts (default 3)")
    args = ap.parse_args()
    ensure_venv()

    if not shutil.which("wrk"):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            print("bench: installing wrk from Debian", flush=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        else:
            print("bench: wrk is required: sudo apt-get install wrk", file=sys.stderr)
            return 2

    sagebox_bin = Path(os.environ.get("SAGEBOX_BIN", REPO / "target" / "release" / "sagebox"))
    if not sagebox_bin.exists():
        print(f"bench: {sagebox_bin} is missing: run `cargo build --release` (make bench does)", file=sys.stderr)
        return 2
    install = os.environ.get("SAGEBOX_BENCH_INSTALL_FAKECLOUD") == "1"
    wanted = args.only.split(",") if args.only else None
    selected = [p for p in peers(sagebox_bin, install) if wanted is None or p.name in wanted]
    if "sagebox" not in [p.name for p in selected]:
        print("bench: sagebox must be part of the run (ratios are relative to it)", file=sys.stderr)
        return 2

    results: dict[str, dict] = {}
    for peer in selected:
        if not peer.available:
            results[peer.name] = {"error": peer.note}
            continue
        print(f"bench: {peer.name}: {args.starts} cold starts, then {args.duration} s of DescribeModel "
              f"with {args.connections} connections", flush=True)
        try:
            start_ms = cold_start(peer, args.starts)
            idle, load = describe_model_load(peer, args.duration, args.connections)
            results[peer.name] = {"start_ms": start_ms, "idle_rss_mb": idle, **load}
        except Exception as e:  # a peer that fails is reported, not fatal
            results[peer.name] = {"error": f"{type(e).__name__}: {e}"}

    s3_results: dict[str, dict] = {}
    disk = ceiling = 0.0
    if not args.skip_s3:
        with tempfile.TemporaryDirectory(prefix="sagebox-bench-") as d:
            disk = disk_fsync_mb_s(d, args.s3_object_mib)
        print(f"bench: S3, every server side by side: {args.s3_object_mib} MiB multipart PUT (beside the ingest "
              f"sink) and GET, then {args.duration} s each of 4 KiB PUT and GET with {args.connections} "
              f"connections; {args.rounds} rounds, each server in turn in each", flush=True)
        s3_results, ceiling = s3_load(selected, args.s3_object_mib, args.duration, args.connections, args.rounds)

    order = [p.name for p in selected]
    print()
    print(table(results, order))
    if s3_results:
        print()
        print(s3_table(s3_results, order, disk, ceiling, args.s3_object_mib))
        for n in order:
            if "error" in s3_results[n]:
                print(f"\n{n} (S3): {s3_results[n]['error']}")
    for n in order:
        if "error" in results[n]:
            print(f"\n{n}: {results[n]['error']}")
    print("\nratios: sagebox's advantage over the peer (throughput: sagebox ÷ peer; times and memory: "
          "peer ÷ sagebox); above 1× sagebox is ahead")
    print(f"host: {os.cpu_count()} cores; load generator: wrk -t2 -c{args.connections} -d{args.duration}s "
          "on the same host (it competes with the server for the cores)")

    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(
        {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "args": vars(args), "results": results,
         "s3": s3_results, "disk_fsync_write_mb_s": disk, "ingest_ceiling_mb_s": ceiling},
        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
