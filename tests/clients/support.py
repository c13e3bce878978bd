"""Shared constants and small helpers for the client suite.

The fixtures live in conftest.py; this module holds what tests import by name (ARNs, a unique-name
maker, a raw awsJson poster), so a reader can see where a value comes from.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
# The Python side of the wheel (the Server class, the pytest plugin), from this checkout.
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))

from sagebox.server import Server, free_port  # noqa: E402, F401 (free_port: tests import it from here)
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE_NAME = "SageMakerRole"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sagebox-test:1"


def sagebox_binary() -> Path:
    return Path(os.environ.get("SAGEBOX_BIN") or REPO / "target" / "debug" / "sagebox")


def unique(prefix: str) -> str:
    """A name no other test uses: prefix plus 10 hex digits (valid for SageMaker and Logs names)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def model_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:model/{name.lower()}"


def endpoint_config_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:endpoint-config/{name.lower()}"



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


class Sagebox(Server):
    """One sagebox process on a loopback port with its own data dir (the packaged
    `sagebox.Server`, run from this checkout's binary). It can be stopped with any signal and
    started again on the same port and data dir, which is how persistence is checked."""

    def __init__(self, data_dir: Path, log_path: Path, extra_args=()):
        super().__init__(data_dir, log_path, extra_args, binary=sagebox_binary())


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


def sdk_session_on(url: str, bucket: str, create_bucket: bool = False):
    """A generator for a SageMaker SDK session fixture against the sagebox at `url`: the endpoint
    through AWS_ENDPOINT_URL (so every client the SDK makes finds it), the bucket given
    explicitly so the SDK never asks AWS's own STS, the v2 warning off; the environment is put
    back afterwards."""
    import boto3
    import sagemaker

    saved = dict(os.environ)
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION=REGION, SAGEMAKER_SUPPRESS_V2_WARNING="1")
    try:
        boto_session = boto3.Session(region_name=REGION)
        if create_bucket:
            boto_session.client("s3").create_bucket(Bucket=bucket)
        yield sagemaker.Session(boto_session=boto_session, default_bucket=bucket)
    finally:
        os.environ.clear()
        os.environ.update(saved)
