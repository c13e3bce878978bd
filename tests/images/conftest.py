"""Fixtures for the emulator-image contract tests.

Images come from `target/debug/sagebox images build NAME` when the binary has that command, else
from tests/images/imagebuild.py, which follows emulator-images/README.md step by step
(SAGEBOX_IMAGES_BUILDER=script forces the script). A build is skipped when the image for the
current recipe exists, so a warm run only runs containers. Without a Docker engine every test here
is skipped. Containers are labelled sagebox.owner=tests-images and removed by that label before
and after the session.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

# Tests import sagebox_container from emulator-images/; no __pycache__ may appear there (the
# recipes are hashed and embedded as they are on disk).
sys.dont_write_bytecode = True

import imagebuild
from support import ROOT, remove_test_containers

SAGEBOX_BIN = os.environ.get("SAGEBOX_BIN") or os.path.join(ROOT, "target", "debug", "sagebox")
_timings = {}
_built = {}


def _docker_ok():
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "version"], capture_output=True).returncode == 0


def _sagebox_can_build():
    if os.environ.get("SAGEBOX_IMAGES_BUILDER") == "script":
        return False
    if not os.path.exists(SAGEBOX_BIN):
        return False
    try:
        p = subprocess.run([SAGEBOX_BIN, "images", "build", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def pytest_collection_modifyitems(config, items):
    if not _docker_ok():
        skip = pytest.mark.skip(reason="no Docker engine answers")
        for item in items:
            if "docker" in item.keywords or item.fspath.basename != "test_recordio.py":
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _clean_containers():
    if _docker_ok():
        remove_test_containers()
    yield
    if _docker_ok():
        remove_test_containers()


def build(name):
    """The image reference for `name`, built if its recipe changed."""
    if name in _built:
        return _built[name]
    start = time.time()
    if _sagebox_can_build():
        p = subprocess.run([SAGEBOX_BIN, "images", "build", name], capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            pytest.fail("sagebox images build %s failed:\n%s%s" % (name, p.stdout[-4000:], p.stderr[-4000:]))
        ref = "sagebox/%s:latest" % name
        _timings[name] = round(time.time() - start, 1)
    else:
        steps = {}
        ref = imagebuild.build(name, steps)
        _timings.update(steps)
    _built[name] = ref
    return ref


@pytest.fixture(scope="module")
def image(request):
    """The module's image: set `IMAGE = "xgboost"` in the test module."""
    return build(request.module.IMAGE)


def pytest_terminal_summary(terminalreporter):
    if _timings:
        terminalreporter.write_line("image builds this run (seconds): %s" % _timings)
