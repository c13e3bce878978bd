"""Shared constants and small helpers for the client suite.

The fixtures live in conftest.py; this module holds what tests import by name (ARNs, a unique-name
maker, a raw awsJson poster), so a reader can see where a value comes from.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE_NAME = "SageMakerRole"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sagebox-test:1"


def _die_with_parent():
    """Linux: have the kernel SIGKILL the server if the test process dies without tearing down."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def sagebox_binary() -> Path:
    return Path(os.environ.get("SAGEBOX_BIN") or REPO / "target" / "debug" / "sagebox")


def unique(prefix: str) -> str:
    """A name no other test uses: prefix plus 10 hex digits (valid for SageMaker and Logs names)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def model_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model/{name.lower()}"


def endpoint_config_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:endpoint-config/{name.lower()}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_aws_env() -> dict:
    """The current environment without any AWS_* setting, plus dummy credentials and no config files,
    so neither the developer's ~/.aws nor a stray AWS_PROFILE can change what a client does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return env


def post_json(url: str, target: str, body, content_type="application/x-amz-json-1.1"):
    """POST an awsJson request the way a client would, unsigned. `body` may be a dict or raw text."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(
        url + "/",
        data=data,
        headers={"X-Amz-Target": target, "Content-Type": content_type},
        timeout=30,
    )


class Sagebox:
    """One sagebox process on a loopback port with its own data dir. It can be stopped with any
    signal and started again on the same port and data dir, which is how persistence is checked."""

    def __init__(self, data_dir: Path, log_path: Path, extra_args=()):
        self.binary = sagebox_binary()
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0):
        if not self.binary.exists():
            raise RuntimeError(
                f"sagebox binary not found at {self.binary}: run `cargo build` or set SAGEBOX_BIN"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        log.write(f"\n=== starting sagebox on {self.url} ===\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--bind", f"127.0.0.1:{self.port}",
             "--data-dir", str(self.data_dir), *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            env={**os.environ, "NO_COLOR": "1", "SAGEBOX_LOG": os.environ.get("SAGEBOX_LOG", "debug")},
        )
        log.close()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sagebox exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}"
                )
            try:
                r = requests.get(self.url + "/_sagebox/health", timeout=2)
                if r.status_code == 200:
                    return self
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"sagebox not healthy after {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0):
        """Send `sig` and wait for the process to end; returns its exit status (negative: killed by
        that signal). A process that outlives the timeout is killed and an error is raised."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"sagebox did not exit within {timeout}s of {sig!r}:\n{self.log_tail()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def remove_containers(self):
        """Removes the containers, networks and volumes this server's data dir owns (its endpoints keep
        running when the server stops, by design; a test session ends them here)."""
        try:
            owner = (self.data_dir / "instance-id").read_text().strip()
        except OSError:
            return
        label = "label=sagebox.owner=" + owner
        # Again after a moment if anything was there: the engine may finish a network a killed
        # server had asked for after the first listing (an empty endpoint network was once left
        # behind that way).
        if self._remove_labelled(label):
            time.sleep(1)
            self._remove_labelled(label)

    @staticmethod
    def _remove_labelled(label: str) -> bool:
        """Removes what carries `label`; says whether there was anything."""
        found = False
        for kind, rm in (("ps", ["docker", "rm", "-f"]), ("network", ["docker", "network", "rm"])):
            listing = ["docker", "ps", "-aq", "--filter", label] if kind == "ps" else \
                ["docker", "network", "ls", "-q", "--filter", label]
            try:
                ids = subprocess.run(listing, capture_output=True, text=True, timeout=60).stdout.split()
                if ids:
                    found = True
                    subprocess.run(rm + ids, capture_output=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                pass
        # notebook instances' volumes (kept across stops by design)
        try:
            vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", label],
                                  capture_output=True, text=True, timeout=60).stdout.split()
            if vols:
                found = True
                subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            pass
        return found

    def restart(self, sig=signal.SIGTERM):
        """Stop with `sig`, then start again on the same port and data dir."""
        self.stop(sig)
        return self.start()

    def log_tail(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return text[-limit:]


def docker_answers() -> bool:
    """Whether a Docker engine answers (tests that run containers need one; CI always has it)."""
    try:
        return subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait_for_log(logs, job: str, text: str, timeout: float = 120.0, kind: str = "Training"):
    """Waits until a training job's log (any of its streams; `kind="Processing"` for a
    processing job's) holds a line containing `text`.

    A test that stops a job should wait for the line its algorithm prints once it handles
    SIGTERM: the byo script runs as the container's PID 1, which the kernel shields from a
    signal it has no handler for yet, so a stop that lands earlier waits out SageMaker's
    120-second grace before the SIGKILL, as it would on SageMaker."""
    deadline = time.time() + timeout
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/sagemaker/{kind}Jobs",
                                            logStreamNamePrefix=job + "/")["events"]
        except Exception:  # noqa: BLE001 - the group appears with the first line
            events = []
        if any(text in e["message"] for e in events):
            return
        assert time.time() < deadline, f"{job} never logged {text!r}"
        time.sleep(0.3)


def build_byo_image() -> str:
    """fixtures/byo built on sagebox's base image (which `sagebox images build base` makes)."""
    proc = subprocess.run([str(sagebox_binary()), "images", "build", "base"], capture_output=True,
                          text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    base = proc.stdout.split()[1]
    # Tagged by its sources and base, so checkouts with different fixtures never swap images.
    digest = hashlib.sha256(base.encode())
    for f in sorted((REPO / "fixtures" / "byo").iterdir()):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    tag = "sagebox-test/byo:" + digest.hexdigest()[:12]
    build = subprocess.run(["docker", "build", "-q", "--build-arg", "BASE=" + base, "-t", tag,
                            str(REPO / "fixtures" / "byo")], capture_output=True, text=True,
                           env={**os.environ, "DOCKER_BUILDKIT": "0"}, timeout=600)
    assert build.returncode == 0, build.stderr
    return tag


def model_tar_gz(files=None) -> bytes:
    """A model.tar.gz as a training job would leave it (by default one small model.json)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in (files or {"model.json": b'{"weights": [1, 2, 3]}'}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def client_error(call):
    """The (error code, HTTP status) of the ClientError that call() raises; fails if none."""
    import pytest
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]
