"""The test cluster of issue #24, and the part of it sagebox does today: a three-engine Docker
Swarm on this machine (see cluster.py), a registry on the test network, and an image that
`sagebox images push` sends there, pulled by two worker nodes that run it as a service whose
replicas answer each other over an attachable overlay network. Placement is shown (each replica's
node), traffic crosses nodes, and everything the test started is gone afterwards.

The swarm engine itself (`sagebox serve --engine swarm`) is not built yet; this proves the ground
it will stand on: nodes with their own engines and addresses, image distribution through the
registry as the README documents it, overlay networking across nodes, and a clean teardown."""

import json
import os
import subprocess
import time

import pytest

from cluster import PREFIX, Cluster, busybox_image, sh, sweep
from support import docker_answers, sagebox_binary, unique

pytestmark = pytest.mark.skipif(not docker_answers() or os.geteuid() != 0,
                                reason="the cluster needs a Docker engine and root")


@pytest.fixture(scope="module")
def cluster():
    sweep()  # what an interrupted run left
    c = Cluster(size=3).up()
    yield c
    c.down()
    left = [line for line in sh("ip", "-o", "link", "show").stdout.splitlines() if PREFIX + c.tag in line]
    left += [ns for ns in sh("ip", "netns", "list").stdout.splitlines() if ns.startswith(PREFIX + "-" + c.tag)]
    assert not left, "the cluster left %s" % left


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A runnable image made here: Debian's static busybox as the whole root filesystem."""
    reference = busybox_image(tmp_path_factory.mktemp("busybox"), "sagebox-test/%s:1" % unique("busybox"),
                              ("sh", "httpd", "wget", "hostname", "nslookup", "sleep", "cat"), dirs=("www",))
    yield reference
    sh("docker", "rmi", "-f", reference, check=False)


def test_workers_pull_a_pushed_image_and_their_replicas_talk_across_nodes(cluster, image):
    manager, workers = cluster.nodes[0], cluster.nodes[1:]
    nodes = json.loads("[%s]" % ",".join(
        manager.docker("node", "ls", "--format", "{{json .}}").stdout.split("\n")[:-1]))
    assert sorted(n["Hostname"] for n in nodes) == ["node1", "node2", "node3"]
    assert {n["Status"] for n in nodes} == {"Ready"}

    # the image reaches the registry the nodes use, from sagebox on this host
    push = subprocess.run([str(sagebox_binary()), "images", "push", "--registry", cluster.registry,
                           "--image", image], capture_output=True, text=True, timeout=600)
    assert push.returncode == 0, push.stderr
    [pulled] = push.stdout.split()
    assert pulled == "%s/%s" % (cluster.registry, image)

    manager.docker("network", "create", "-d", "overlay", "--attachable", "lab")
    manager.docker(
        "service", "create", "--detach", "--name", "echo", "--network", "lab", "--replicas", "2",
        "--endpoint-mode", "dnsrr", "--constraint", "node.role==worker",
        "--placement-pref", "spread=node.id", pulled,
        "sh", "-c", "hostname > /www/index.html && exec httpd -f -p 8080 -h /www")
    deadline = time.time() + 180
    while True:
        tasks = [line.split() for line in manager.docker(
            "service", "ps", "echo", "--filter", "desired-state=running",
            "--format", "{{.Node}} {{.CurrentState}}").stdout.splitlines()]
        if len(tasks) == 2 and all(t[1] == "Running" for t in tasks):
            break
        assert time.time() < deadline, manager.docker("service", "ps", "--no-trunc", "echo").stdout
        time.sleep(1)
    # placement: one replica on each worker
    assert sorted(t[0] for t in tasks) == sorted(w.name for w in workers)

    # each replica answers the other over the overlay, from the other node
    answers = {}
    for worker in workers:
        [container] = worker.docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=echo").stdout.split()
        own = worker.docker("exec", container, "hostname").stdout.strip()
        peers = worker.docker("exec", container, "nslookup", "tasks.echo").stdout
        addresses = [line.split()[-1] for line in peers.splitlines()
                     if line.startswith("Address") and not line.rstrip().endswith(":53")]
        assert len(addresses) == 2, peers
        got = {worker.docker("exec", container, "wget", "-qO-", "http://%s:8080/" % a).stdout.strip()
               for a in addresses}
        assert own in got and len(got) == 2, got
        answers[worker.name] = got
    assert answers[workers[0].name] == answers[workers[1].name]

    manager.docker("service", "rm", "echo")


def test_doctor_says_when_its_engine_is_a_swarm_node(cluster, tmp_path):
    """Pointed at the manager's engine (DOCKER_HOST), `sagebox doctor` names the swarm and says
    that sagebox uses that node only; a worker's engine is named a worker."""
    for node, role in ((cluster.nodes[0], "manager"), (cluster.nodes[1], "worker")):
        proc = subprocess.run([str(sagebox_binary()), "doctor", "--json", "--bind", "127.0.0.1:0",
                               "--data-dir", str(tmp_path / "data")], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "DOCKER_HOST": node.socket})
        checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
        swarm = checks["swarm"]
        assert swarm["verdict"] == "warn"
        assert swarm["facts"]["role"] == role and swarm["facts"]["nodes"] == (3 if role == "manager" else 0)
        assert "runs every container on this node only" in swarm["detail"]
        assert checks["docker"]["facts"]["swarm"] == swarm["facts"]
