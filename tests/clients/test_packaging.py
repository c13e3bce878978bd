"""How users get sagebox: the wheel (`pip install sagebox` puts the binary on PATH), its pytest
plugin used by a project of a user's (tests/plugin_project, no conftest), `sagebox run -- CMD`,
and the shell completions.

The wheel here is built with the dev profile: `make wheel` builds the same wheel from the release
profile, which would add minutes of compiling to every `make test` and package nothing different.
"""

import json
import os
import signal
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from support import REPO, clean_aws_env, docker_answers, free_port, sagebox_binary

pytestmark = pytest.mark.skipif(not docker_answers(), reason="needs a Docker engine")

# The fresh venv's clients: the versions the suite pins.
PINNED = [line for line in (REPO / "tests" / "clients" / "requirements.txt").read_text().splitlines()
          if line.startswith(("boto3==", "botocore==", "pytest=="))]


def owners_under(folder: Path):
    """The owner labels of the data directories under `folder` (each server's instance-id)."""
    return sorted({p.read_text().strip() for p in folder.rglob("instance-id")})


def containers_of(owner: str):
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=sagebox.owner={owner}"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    nets = subprocess.run(["docker", "network", "ls", "-q", "--filter",
                           f"label=sagebox.owner={owner}"],
                          capture_output=True, text=True, timeout=60, check=True).stdout.split()
    return out + nets


def user_env(**extra):
    """A user's environment: no SAGEBOX_BIN (the wheel's binary must be found), no AWS settings."""
    env = {k: v for k, v in clean_aws_env().items()
           if not k.startswith(("SAGEBOX_", "PYTEST_", "AWS_ACCESS", "AWS_SECRET"))}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh venv holding the wheel built from this checkout, pytest and boto3."""
    out = tmp_path_factory.mktemp("wheel")
    maturin = Path(sys.executable).parent / "maturin"
    build = subprocess.run([str(maturin), "build", "--profile", "dev", "--out", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stderr[-4000:]
    wheels = list(out.glob("sagebox-*.whl"))
    assert len(wheels) == 1, wheels
    home = tmp_path_factory.mktemp("venv") / "v"
    venv.EnvBuilder(with_pip=True).create(home)
    pip = subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          str(wheels[0]), *PINNED], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-4000:]
    return home


def test_the_wheel_puts_sagebox_on_path(wheel_venv, tmp_path):
    binary = wheel_venv / "bin" / "sagebox"
    assert binary.is_file()
    env = user_env(PATH=f"{wheel_venv / 'bin'}:{os.environ['PATH']}")
    version = subprocess.run(["sagebox", "--version"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("sagebox "), version
    port = free_port()
    doctor = subprocess.run(["sagebox", "doctor", "--json", "--bind", f"127.0.0.1:{port}",
                             "--data-dir", str(tmp_path / "data")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert json.loads(doctor.stdout)["ok"] is True
    found = subprocess.run([str(wheel_venv / "bin" / "python"), "-c",
                            "import sagebox; print(sagebox.find_binary(), sagebox.__version__)"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [str(binary), version.stdout.split()[1]]
    # `python -m sagebox` runs the same binary when the venv's bin/ is not on PATH
    module = subprocess.run([str(wheel_venv / "bin" / "python"), "-m", "sagebox", "--version"],
                            env=user_env(), capture_output=True, text=True, timeout=60)
    assert module.returncode == 0 and module.stdout == version.stdout, module


def test_a_users_project_trains_and_deploys_with_the_plugin(wheel_venv, byo_image, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(REPO / "tests" / "plugin_project", project)
    basetemp = tmp_path / "basetemp"
    env = user_env(SAGEBOX_TEST_IMAGE=byo_image)
    run = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={basetemp}", "test_train_and_deploy.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "3 passed" in run.stdout, run.stdout
    owners = owners_under(basetemp)
    assert len(owners) == 2, owners  # the session's server and the fresh one
    for owner in owners:
        assert containers_of(owner) == [], f"the plugin left {owner}'s containers behind"

    failing = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'basetemp2'}", "check_failure_report.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "sagebox log (http://127.0.0.1:" in failing.stdout, failing.stdout[-4000:]
    # the log shows the request the test made
    assert "failure-report" in failing.stdout.split("sagebox log (", 1)[1], failing.stdout[-4000:]

    kept = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'basetemp3'}", "--sagebox-keep", "-k", "exported",
         "test_train_and_deploy.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "sagebox: kept " in kept.stdout, kept.stdout
    data_dirs = list((tmp_path / "basetemp3").rglob("sagebox.db"))
    assert len(data_dirs) == 1, "--sagebox-keep left no data directory"


RUN_SCRIPT = r"""
import os, sys, boto3
sm = boto3.client("sagemaker")
assert sm.list_models()["Models"] == []
data_dir = os.path.dirname(os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"])
print("DATA", data_dir)
print("OWNER", open(os.path.join(data_dir, "instance-id")).read().strip())
image = sys.argv[1]
role = "arn:aws:iam::000000000000:role/SageMakerRole"
sm.create_model(ModelName="run-model", ExecutionRoleArn=role,
                PrimaryContainer={"Image": image})
sm.create_endpoint_config(EndpointConfigName="run-config", ProductionVariants=[{
    "VariantName": "AllTraffic", "ModelName": "run-model", "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 1}])
sm.create_endpoint(EndpointName="run-endpoint", EndpointConfigName="run-config")
sm.get_waiter("endpoint_in_service").wait(EndpointName="run-endpoint",
                                          WaiterConfig={"Delay": 1, "MaxAttempts": 300})
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


def test_sagebox_run_wraps_one_command_and_cleans_up(byo_image):
    env = user_env()
    run = subprocess.run([str(sagebox_binary()), "run", "--", sys.executable, "-c", RUN_SCRIPT,
                          byo_image], env={**env, "EXIT_WITH": "3"},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 3, run.stdout + run.stderr
    said = dict(line.split(" ", 1) for line in run.stdout.splitlines() if " " in line)
    assert not Path(said["DATA"]).exists(), "the temporary data directory is still there"
    assert containers_of(said["OWNER"]) == [], "the endpoint's containers are still there"
    assert "removed" in run.stderr, run.stderr

    plain = subprocess.run([str(sagebox_binary()), "run", "--", sys.executable, "-c",
                            "import boto3; print(len(boto3.client('sagemaker').list_models()"
                            "['Models']))"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and plain.stdout == "0\n", plain.stdout + plain.stderr
    missing = subprocess.run([str(sagebox_binary()), "run", "--", "no-such-command-here"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 127, missing.stderr
    assert "cannot run `no-such-command-here`" in missing.stderr


def test_sagebox_run_passes_sigterm_to_the_command():
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
              "print('ready', flush=True)\n"
              "time.sleep(120)\n")
    proc = subprocess.Popen([str(sagebox_binary()), "run", "--", sys.executable, "-c", script],
                            env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 42, proc.stderr.read()
    finally:
        proc.kill()


def test_shell_completions_come_from_the_cli(tmp_path):
    for shell, marker in (("bash", "complete -F _sagebox"), ("zsh", "#compdef sagebox"),
                          ("fish", "complete -c sagebox")):
        out = subprocess.run([str(sagebox_binary()), "completions", shell], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and marker in out.stdout, (shell, out.stdout[:300])
        for sub in ("serve", "run", "images", "completions"):
            assert sub in out.stdout, (shell, sub)
    script = tmp_path / "sagebox.bash"
    script.write_text(subprocess.run([str(sagebox_binary()), "completions", "bash"],
                                     capture_output=True, text=True).stdout)
    # What bash offers after `sagebox ru<TAB>`.
    probe = subprocess.run(
        ["bash", "-c", f"source {script}; COMP_WORDS=(sagebox ru); COMP_CWORD=1; "
                       "_sagebox sagebox ru sagebox; printf '%s\\n' \"${COMPREPLY[@]}\""],
        capture_output=True, text=True, timeout=60)
    assert probe.stdout.split() == ["run"], probe.stdout + probe.stderr
