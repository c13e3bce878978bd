"""What the training and hosting benchmarks share: a free port, sagebox's base image, and a
sagebox server on a temporary data directory."""

from __future__ import annotations

import io
import socket
import tarfile
import shutil
import subprocess
import time
from pathlib import Path

import boto3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_tar() -> bytes:
    """A model.tar.gz holding one small model.json: what the byo serving image loads."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        data = b'{"weights": [1, 2, 3]}'
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def base_image(sagebox: Path) -> str:
    """sagebox's base image (built if missing), for FROM lines of the bench's own images."""
    out = subprocess.run([str(sagebox), "images", "build", "base"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


def start_sagebox(sagebox: Path, data_dir: str, extra=(), own_group: bool = False) -> tuple[subprocess.Popen, str]:
    """A server on a free port (`extra`: more flags); returns once it answers (the process and
    its URL). With `own_group` it gets a process group of its own, so a Ctrl-C in the terminal
    reaches the script only, which can then still clean up through the server's API."""
    port = free_port()
    proc = subprocess.Popen([str(sagebox), "serve", "--bind", f"127.0.0.1:{port}", "--data-dir", data_dir,
                             *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=own_group)
    url = f"http://127.0.0.1:{port}"
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                       aws_secret_access_key="bench")
    for _ in range(100):
        try:
            sts.get_caller_identity()
            break
        except Exception:
            time.sleep(0.1)
    return proc, url


def completed_after(sm, name: str, t0: float, kind: str = "Training") -> float:
    """Polls job `name` (a training job, or `kind="Processing"`) until it leaves InProgress; the
    seconds since `t0` (a time.perf_counter() taken before its Create call), or an error if it
    did not complete."""
    describe = getattr(sm, f"describe_{kind.lower()}_job")
    while True:
        d = describe(**{f"{kind}JobName": name})
        status = d[f"{kind}JobStatus"]
        if status != "InProgress":
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    if status != "Completed":
        raise RuntimeError(f"{name}: {status}: {d.get('FailureReason')}")
    return elapsed


def remove_owned(data: Path) -> None:
    """A job's network is removed just after its Completed is saved, so a server stopped right
    after the last job can leave it behind: what this data dir's server owns (containers,
    networks, notebook volumes) is removed here."""
    try:
        owner = (Path(data) / "instance-id").read_text().strip()
    except OSError:
        return
    label = f"label=sagebox.owner={owner}"
    for listing, rm in ((["docker", "ps", "-aq", "--filter", label], ["docker", "rm", "-f"]),
                        (["docker", "network", "ls", "-q", "--filter", label], ["docker", "network", "rm"]),
                        (["docker", "volume", "ls", "-q", "--filter", label], ["docker", "volume", "rm"])):
        ids = subprocess.run(listing, capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(rm + ids, capture_output=True)


def stop_sagebox(proc: subprocess.Popen, data_dir) -> None:
    """Stops a server from `start_sagebox`, removes what it owned on the engine and its data dir."""
    proc.terminate()
    proc.wait(timeout=30)
    remove_owned(Path(data_dir))
    shutil.rmtree(data_dir, ignore_errors=True)
