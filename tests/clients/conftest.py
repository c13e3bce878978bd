"""Fixtures for the client acceptance suite: a real sagebox process, boto3 clients and the AWS CLI
pointed at it.

One server runs for the whole session (`sagebox`, from the packaged pytest plugin); tests that
stop or restart a server get their own (`spawn_sagebox`), so killing it cannot disturb the others.
Every test names its resources with `unique()`, so no test depends on what another created. When a
test fails, the tail of each running server's log is attached to the report.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.config
import pytest

from support import REGION, build_byo_image, clean_aws_env, sagebox_binary, sdk_session_on, unique

# Neither the developer's AWS config nor their environment may leak into the clients under test.
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ.update(
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
)

# The checkout's binary unless one is named: the plugin would look for an installed wheel.
os.environ.setdefault("SAGEBOX_BIN", str(sagebox_binary()))


def _binary_of_our_own():
    """The wheel test's `maturin build` runs cargo, and cargo links its output into
    target/debug/sagebox again even when nothing changed: it removes the file first, and the name
    stays missing for a second or two while the other workers' tests start servers (six failed
    that way in one run). So the suite runs a link of its own to the same file, made once by the
    controlling process before its workers start (they inherit the environment): a link kept
    elsewhere keeps the file, whatever happens to the name in target/."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        return
    binary = Path(os.environ["SAGEBOX_BIN"])
    if not binary.is_file():
        return  # the plugin's fixtures say so, naming the path
    home = Path(tempfile.mkdtemp(prefix="client-suite-bin-", dir=binary.parent))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    own = home / binary.name
    try:
        os.link(binary, own)
    except OSError:  # another filesystem, or no links there
        shutil.copy2(binary, own)
    os.environ["SAGEBOX_BIN"] = str(own)


_binary_of_our_own()

# The servers come from the packaged pytest plugin (python/sagebox/pytest_plugin.py), so every
# `make test` exercises it: `sagebox` (the session's server), `sagebox_spawn` (private servers
# with extra flags), the log attached to a failed test's report, and the cleanup by owner label.
pytest_plugins = ["sagebox.pytest_plugin"]


@pytest.fixture
def spawn_sagebox(sagebox_spawn):
    """Start a private server (extra CLI flags allowed); it is killed when the test ends."""
    return sagebox_spawn


def _config(**kw):
    base = dict(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
    )
    base.update(kw)
    return botocore.config.Config(**base)


@pytest.fixture(scope="session")
def client_factory():
    """client_factory(service, endpoint_url, **Config kwargs) -> a boto3 client with dummy keys."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )

    def make(service, endpoint_url, region_name=REGION, **config):
        return session.client(
            service, endpoint_url=endpoint_url, region_name=region_name, config=_config(**config)
        )

    return make


@pytest.fixture(scope="session")
def sm(sagebox, client_factory):
    return client_factory("sagemaker", sagebox.url)


@pytest.fixture(scope="module")
def s3(sagebox, client_factory):
    """Module-scoped: a module may bring its own `sagebox` (test_framework_huggingface does)."""
    return client_factory("s3", sagebox.url)


@pytest.fixture(scope="module")
def bucket(request, s3):
    """A bucket for the requesting module, named after it ("training-3f2a…" for test_training)."""
    stem = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    name = unique(stem[:30].strip("-") or "bucket")
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def sm_raw(sagebox, client_factory):
    """A SageMaker client that skips boto3's own parameter checks, so the server's are exercised."""
    return client_factory("sagemaker", sagebox.url, parameter_validation=False)


@pytest.fixture(scope="session")
def logs(sagebox, client_factory):
    return client_factory("logs", sagebox.url)


@pytest.fixture(scope="session")
def logs_raw(sagebox, client_factory):
    return client_factory("logs", sagebox.url, parameter_validation=False)


@pytest.fixture(scope="session")
def sts(sagebox, client_factory):
    return client_factory("sts", sagebox.url)


@pytest.fixture(scope="session")
def iam(sagebox, client_factory):
    return client_factory("iam", sagebox.url)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else None


def run_cli(endpoint_url, *args, check=True, env=None):
    """Run the venv's AWS CLI (`python -m awscli`) against `endpoint_url` with dummy credentials."""
    cmd = [sys.executable, "-m", "awscli"]
    if endpoint_url:
        cmd += ["--endpoint-url", endpoint_url]
    cmd += ["--region", REGION, "--output", "json", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, env=env or clean_aws_env(),
        stdin=subprocess.DEVNULL,
    )
    result = CliResult(proc.returncode, proc.stdout, proc.stderr)
    if check:
        assert proc.returncode == 0, (
            f"`aws {' '.join(args)}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def aws(sagebox):
    """aws(*args, check=True) -> CliResult; `aws("sts", "get-caller-identity").json`."""

    def call(*args, check=True):
        return run_cli(sagebox.url, *args, check=check)

    return call


@pytest.fixture(scope="session")
def byo_image():
    """fixtures/byo built on sagebox's base image (see support.build_byo_image)."""
    return build_byo_image()


@pytest.fixture(scope="module")
def sdk_session(sagebox, bucket):
    """A SageMaker SDK session against sagebox: the endpoint through AWS_ENDPOINT_URL, the bucket
    (the requesting module's `bucket` fixture) and role given explicitly so the SDK never asks
    AWS's own STS, telemetry off."""
    pytest.importorskip("sagemaker")
    yield from sdk_session_on(sagebox.url, bucket)
