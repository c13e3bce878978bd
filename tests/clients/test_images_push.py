"""`sagebox images push`: images reach a registry a cluster's nodes pull from, over the registry's
own HTTP API (no engine configuration for plain-HTTP registries needed). The registry is Debian's
`docker-registry` (the Distribution registry), started here on 127.0.0.1 with its storage in the
test's directory. What the engine pulls back is byte-for-byte the image that was pushed: the same
image ID (the digest of its config), and an emulator image's manifest names exactly its config
and layers."""

import io
import json
import shutil
import tarfile
import subprocess
import time

import pytest
import requests

from support import docker_answers, free_port, sagebox_binary, unique

pytestmark = pytest.mark.skipif(not docker_answers(), reason="no Docker engine answers")


def sagebox(*args):
    return subprocess.run([str(sagebox_binary()), *args], capture_output=True, text=True, timeout=900)


def docker(*args, check=True):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600, check=check)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Debian's registry on a free loopback port; yields its host:port."""
    binary = shutil.which("docker-registry")
    assert binary, "Debian's registry is needed for this test: `apt-get install docker-registry`"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                      "http:\n  addr: 127.0.0.1:%d\nlog:\n  level: warn\n" % (root / "data", port))
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=open(root / "log", "w"))
    address = "127.0.0.1:%d" % port
    deadline = time.time() + 30
    while True:
        try:
            if requests.get("http://%s/v2/" % address, timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.time() < deadline, (root / "log").read_text()
        time.sleep(0.2)
    yield address
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def tiny_image(tmp_path):
    """A one-file image made here (`docker import`), removed afterwards with what was pulled."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    greeting = "%s\n" % unique("hello")
    (rootfs / "etc" / "greeting").write_text(greeting)
    archive = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
    reference = "sagebox-test/%s:1" % unique("tiny")
    docker("import", str(archive), reference)
    made = [reference]
    yield reference, made, greeting
    docker("rmi", "-f", *made, check=False)


def test_an_image_of_your_own_is_pulled_back_identical_and_a_second_push_sends_nothing(registry, tiny_image):
    reference, made, greeting = tiny_image
    image_id = docker("inspect", "-f", "{{.Id}}", reference).stdout.strip()
    proc = sagebox("images", "push", "--registry", registry, "--image", reference)
    assert proc.returncode == 0, proc.stderr
    pushed = "%s/%s" % (registry, reference)
    assert proc.stdout.splitlines() == [pushed]
    assert "pushed (2 of 2 blobs sent" in proc.stderr

    again = sagebox("images", "push", "--registry", registry, "--image", reference)
    assert again.returncode == 0 and "pushed (0 of 2 blobs sent, the rest were there)" in again.stderr

    docker("rmi", reference)
    made.append(pushed)
    docker("pull", pushed)
    assert docker("inspect", "-f", "{{.Id}}", pushed).stdout.strip() == image_id
    # the file made here is in the pulled image
    container = docker("create", pushed, "/none").stdout.strip()
    try:
        copied = subprocess.run(["docker", "cp", "%s:/etc/greeting" % container, "-"], capture_output=True,
                                timeout=60, check=True).stdout
    finally:
        docker("rm", "-f", container, check=False)
    with tarfile.open(fileobj=io.BytesIO(copied)) as tar:
        assert tar.extractfile("greeting").read().decode() == greeting

def test_an_emulator_image_goes_up_as_its_recipe_hash_and_latest(registry):
    proc = sagebox("images", "push", "--registry", registry, "linear-learner")
    assert proc.returncode == 0, proc.stderr
    refs = proc.stdout.splitlines()
    assert len(refs) == 2 and refs[1] == "%s/sagebox/linear-learner:latest" % registry
    tag = refs[0].rsplit(":", 1)[1]
    local = json.loads(docker("inspect", "sagebox/linear-learner:%s" % tag).stdout)[0]
    for t in (tag, "latest"):
        manifest = requests.get("http://%s/v2/sagebox/linear-learner/manifests/%s" % (registry, t), headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=30).json()
        assert manifest["config"]["digest"] == local["Id"]
        # uncompressed layers: each blob's digest is the layer's DiffID
        assert [layer["digest"] for layer in manifest["layers"]] == local["RootFS"]["Layers"]


def test_refusals_say_what_to_do(registry):
    closed = "127.0.0.1:%d" % free_port()
    proc = sagebox("images", "push", "--registry", closed, "--image", "sagebox/base:latest")
    assert proc.returncode == 1
    assert "cannot reach the registry at http://%s" % closed in proc.stderr
    assert "--registry host:port" in proc.stderr

    proc = sagebox("images", "push", "--registry", "https://registry.lan", "--image", "x:1")
    assert proc.returncode == 1 and "`docker push`" in proc.stderr

    proc = sagebox("images", "push", "--registry", registry, "--image", "sagebox-test/not-there:1")
    assert proc.returncode == 1
    assert "the engine has no image sagebox-test/not-there:1" in proc.stderr
