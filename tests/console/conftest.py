"""Fixtures for the console's browser tests: one sagebox server for the session (the client
suite's `Sagebox`, from tests/clients/support.py), boto3 clients that create what the pages show,
and headless Chromium (with and without JavaScript). A failed test leaves a screenshot and the
page source of each of its browsers in tests/console/artifacts/, and the server's log in its
report."""

import os
import sys
from pathlib import Path

import boto3
import botocore.config
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))

from support import REGION, build_byo_image  # noqa: E402

from browser import ARTIFACTS, SERVERS, chrome, dump, serving  # noqa: E402

# Neither the developer's AWS config nor their environment may leak into the clients.
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]
os.environ.update(
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
    SE_OFFLINE="true",
)

BROWSER_FIXTURES = ("driver", "nojs_driver")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    for fixture in BROWSER_FIXTURES:
        driver = funcargs.get(fixture)
        if driver is not None:
            dump(driver, "FAILED-%s-%s-%s" % (item.name, report.when, fixture))
            try:
                report.sections.append((f"{fixture} was at", driver.current_url))
            except Exception:
                pass
    for server in SERVERS:
        report.sections.append(
            (f"sagebox log ({server.url}, data dir {server.data_dir})", server.log_tail(8000)))


def pytest_sessionstart(session):
    """The artifacts folder holds the last run's screenshots only."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.iterdir():
        if old.is_file() and old.suffix in (".png", ".html"):
            old.unlink()


@pytest.fixture(scope="session")
def sagebox(tmp_path_factory):
    yield from serving(tmp_path_factory, "sagebox")


@pytest.fixture(scope="session")
def base(sagebox):
    """The console's root URL."""
    return sagebox.url + "/_sagebox"


def _client(service, url, **config):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=REGION)
    cfg = dict(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
               read_timeout=60)
    cfg.update(config)
    return session.client(service, endpoint_url=url, region_name=REGION,
                          config=botocore.config.Config(**cfg))


@pytest.fixture(scope="session")
def sm(sagebox):
    return _client("sagemaker", sagebox.url)


@pytest.fixture(scope="session")
def logs(sagebox):
    return _client("logs", sagebox.url)


@pytest.fixture(scope="session")
def s3(sagebox):
    return _client("s3", sagebox.url)


@pytest.fixture
def driver():
    d = chrome()
    yield d
    d.quit()


@pytest.fixture
def nojs_driver():
    """Chromium with JavaScript switched off: every page must still be readable and usable."""
    d = chrome(javascript=False)
    yield d
    d.quit()


@pytest.fixture(scope="session")
def byo_image():
    """fixtures/byo built on sagebox's base image, as in the client suite."""
    return build_byo_image()
