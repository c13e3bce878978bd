"""GET /_sagebox/health: the readiness probe that scripts and this suite wait on."""

import subprocess
import time

import requests

from support import sagebox_binary


def health(server):
    r = requests.get(server.url + "/_sagebox/health", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    return r.json()


def test_health_reports_version_uptime_and_subsystems(sagebox):
    body = health(sagebox)
    assert isinstance(body["version"], str) and body["version"], body
    assert isinstance(body["uptime_seconds"], (int, float)) and body["uptime_seconds"] >= 0, body
    assert isinstance(body["subsystems"], dict) and body["subsystems"], body


def test_health_version_matches_the_binary_version(sagebox):
    out = subprocess.run([str(sagebox_binary()), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # clap prints "sagebox 0.1.0"
    assert out.stdout.split()[-1] == health(sagebox)["version"], out.stdout


def test_health_uptime_grows_while_the_server_runs(sagebox):
    first = health(sagebox)["uptime_seconds"]
    time.sleep(1.2)
    second = health(sagebox)["uptime_seconds"]
    assert second - first >= 1.0, (first, second)
