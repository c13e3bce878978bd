"""A real multi-node Docker Swarm on this one machine, for the cluster tests (issue #24).

Each node is a Docker engine of its own: the host's `dockerd` binary run in a network namespace of
the test's (joined by a veth to a test bridge), with its own data root, exec root, socket, pid file
and hostname (a UTS namespace). Node 1 initialises the swarm and the others join it as workers.
A registry (Debian's `docker-registry`) runs in a namespace of its own on the same bridge; the
nodes list it in `insecure-registries`, as a real cluster's nodes would for a plain-HTTP
registry. Everything is named with one random tag and removed by `down()` (engines, namespaces,
veths, the bridge, the firewall rule, the directories), also after a failed `up()`; `sweep()`
removes what an interrupted run left.

Needs root, `ip`, `nsenter`, `unshare`, `iptables`, the `dockerd` binary and `docker-registry`.
Nodes use the `fuse-overlayfs` storage driver where it is installed, else `vfs` (slow for big
images); what a killed engine leaves mounted is unmounted by `down()` and `sweep()`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "sbxc"  # every interface and namespace the harness makes starts with this
REGISTRY_PORT = 5000


def sh(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


def free_subnet() -> str:
    """A /24 under 10.0.0.0/8 that no route on this host covers (the first three octets)."""
    routes = sh("ip", "-4", "route", "show").stdout
    for _ in range(200):
        candidate = "10.%d.%d" % (random.randint(100, 250), random.randint(0, 250))
        if candidate + "." not in routes:
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 subnet for the test cluster")


@dataclass
class Node:
    name: str
    ip: str
    root: Path
    netns: str
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return "unix://%s" % (self.root / "docker.sock")

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return sh("docker", "-H", self.socket, *args, check=check, timeout=timeout)


@dataclass
class Cluster:
    """`up()` builds it; `down()` removes it. `nodes[0]` is the manager."""

    size: int = 3
    # GPUs a node advertises as `NVIDIA-GPU` generic resources (node name -> count), as a GPU
    # node's daemon.json does; no device is behind them here
    gpus: dict = field(default_factory=dict)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    nodes: list[Node] = field(default_factory=list)
    registry: str = ""  # host:port the nodes (and this host) reach the registry at
    _registry_proc: subprocess.Popen | None = None
    _dir: Path | None = None
    _subnet: str = ""

    @property
    def host_ip(self) -> str:
        """This machine's address on the test network (where the nodes reach sagebox)."""
        return "%s.1" % self._subnet

    @property
    def bridge(self) -> str:
        return "%s%s" % (PREFIX, self.tag)  # 10 characters: interface names stop at 15

    def _veth(self, i: int) -> str:
        return "%s%sv%d" % (PREFIX, self.tag, i)

    def up(self) -> "Cluster":
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self

    def _up(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="sagebox-cluster-"))
        # who owns it: `sweep()` leaves the clusters of live test processes alone
        (self._dir / "owner").write_text("%d %s\n" % (os.getpid(), self.tag))
        self._subnet = free_subnet()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", "%s.1/24" % self._subnet, "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        # bridged frames pass the host's FORWARD chain (br_netfilter), whose policy Docker sets
        # to DROP: let the test bridge's own traffic through
        sh("iptables", "-I", "DOCKER-USER", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT")
        registry_ns = self._namespace(0, "%s.2" % self._subnet, "%s-registry" % self.tag)
        self.registry = "%s.2:%d" % (self._subnet, REGISTRY_PORT)
        self._start_registry(registry_ns)
        for i in range(self.size):
            name = "node%d" % (i + 1)
            ip = "%s.%d" % (self._subnet, 11 + i)
            netns = self._namespace(i + 1, ip, "%s-%s" % (self.tag, name))
            node = Node(name=name, ip=ip, root=self._dir / name, netns=netns)
            self._start_engine(node)
            self.nodes.append(node)
        manager = self.nodes[0]
        manager.docker("swarm", "init", "--advertise-addr", manager.ip)
        token = manager.docker("swarm", "join-token", "-q", "worker").stdout.strip()
        for node in self.nodes[1:]:
            # the join returns when the node is in, or after its own timeout while it goes on
            node.docker("swarm", "join", "--token", token, "%s:2377" % manager.ip, check=False, timeout=120)
        deadline = time.time() + 90
        while self.ready_nodes() < self.size:
            if time.time() > deadline:
                raise RuntimeError("the workers did not join: " + manager.docker("node", "ls", check=False).stdout)
            time.sleep(1)

    def _namespace(self, i: int, ip: str, label: str) -> str:
        netns = "%s-%s" % (PREFIX, label)
        sh("ip", "netns", "add", netns)
        host_end = self._veth(i)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "link", "set", host_end, "master", self.bridge, "up")
        inside = ["ip", "netns", "exec", netns]
        sh(*inside, "ip", "addr", "add", "%s/24" % ip, "dev", "eth0")
        sh(*inside, "ip", "link", "set", "eth0", "up")
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "route", "add", "default", "via", "%s.1" % self._subnet)
        return netns

    def _start_registry(self, netns: str) -> None:
        binary = shutil.which("docker-registry")
        if not binary:
            raise RuntimeError("the cluster test needs Debian's registry: `apt-get install docker-registry`")
        root = self._dir / "registry"
        root.mkdir()
        config = root / "config.yml"
        config.write_text("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
                          "http:\n  addr: 0.0.0.0:%d\nlog:\n  level: warn\n" % (root / "data", REGISTRY_PORT))
        # nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup mounts dockerd
        # needs (and the registry does not mind either way)
        self._registry_proc = subprocess.Popen(
            ["nsenter", "--net=/var/run/netns/%s" % netns, binary, "serve", str(config)],
            stdout=subprocess.DEVNULL, stderr=open(root / "log", "w"), start_new_session=True)
        self._wait(lambda: sh("curl", "-sf", "http://%s/v2/" % self.registry, check=False).returncode == 0,
                   "the registry at %s" % self.registry, root / "log")

    def _start_engine(self, node: Node) -> None:
        node.root.mkdir(parents=True)
        config = node.root / "daemon.json"
        # its own config file: the host's /etc/docker/daemon.json names the host's data root
        settings = {"insecure-registries": [self.registry], "storage-driver": storage_driver()}
        if self.gpus.get(node.name):
            # a count (discrete): the swarm (20.10) rejects a task on a node whose named GPUs
            # it assigned ("assigned node no longer meets constraints")
            settings["node-generic-resources"] = ["NVIDIA-GPU=%d" % self.gpus[node.name]]
        config.write_text(json.dumps(settings))
        cmd = ["nsenter", "--net=/var/run/netns/%s" % node.netns, "unshare", "--uts", "sh", "-c",
               'hostname "$0" && exec dockerd "$@"', node.name,
               "--config-file", str(config), "--data-root", str(node.root / "data"),
               "--exec-root", str(node.root / "exec"), "--pidfile", str(node.root / "docker.pid"),
               "-H", node.socket]
        node.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(node.root / "log", "w"),
                                     start_new_session=True)
        self._wait(lambda: node.docker("version", check=False, timeout=10).returncode == 0,
                   "the engine of %s" % node.name, node.root / "log")

    @staticmethod
    def _wait(ok, what: str, log: Path, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while not ok():
            if time.time() > deadline:
                raise RuntimeError("%s did not start: %s" % (what, log.read_text()[-2000:]))
            time.sleep(0.3)

    def ready_nodes(self) -> int:
        out = self.nodes[0].docker("node", "ls", "--format", "{{.Status}}", check=False).stdout
        return sum(1 for line in out.split() if line == "Ready")

    def kill_node(self, node: Node) -> None:
        """The node's engine dies at once, its containers with it, as a lost machine would."""
        if node.proc and node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait(timeout=30)
        kill_containers(node)

    def down(self) -> None:
        for node in reversed(self.nodes):
            if node.proc and node.proc.poll() is None:
                node.proc.terminate()  # dockerd stops its containers and its containerd
                try:
                    node.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait(timeout=30)
            # a killed dockerd leaves its containerd and shims: they run in its session
            if node.proc:
                try:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                kill_containers(node)
        if self._registry_proc and self._registry_proc.poll() is None:
            self._registry_proc.terminate()
            self._registry_proc.wait(timeout=30)
        sweep(self.tag)
        if self._dir:
            unmount_under(str(self._dir))
            shutil.rmtree(self._dir, ignore_errors=True)


def container_processes(node: Node) -> list[int]:
    """The processes that run in one of the node's containers: those whose cgroup names a
    container id the node's engine created (`<data-root>/containers/<id>`)."""
    try:
        ids = [d.name for d in (node.root / "data" / "containers").iterdir() if len(d.name) == 64]
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % entry) as f:
                cgroups = f.read()
        except OSError:
            continue
        if any(i in cgroups for i in ids):
            found.append(int(entry))
    return found


def kill_containers(node: Node) -> None:
    """SIGKILLs what runs in the node's containers. Killing an engine's process group reaches its
    containerd and shims, not the containers: each container's init has a session and PID
    namespace of its own, so it would run on, adopted by PID 1. Raises if any is left."""
    deadline = time.time() + 30
    while True:
        pids = container_processes(node)
        if not pids:
            return
        if time.time() > deadline:
            raise RuntimeError("processes of %s's containers outlived SIGKILL: %s" % (node.name, pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


def storage_driver() -> str:
    """fuse-overlayfs where its binary is (layers shared, as on a real node: an emulator image
    is pulled in seconds), else vfs (every layer and container a full copy)."""
    return "fuse-overlayfs" if shutil.which("fuse-overlayfs") else "vfs"


def unmount_under(root: str) -> None:
    """Lazily unmounts what an engine mounted below `root` and left (a killed dockerd leaves its
    network namespaces' and data root's mounts), deepest first."""
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    for point in sorted((p for p in points if p.startswith(root)), key=len, reverse=True):
        sh("umount", "-l", point, check=False)


def sweep(tag: str = "") -> None:
    """Removes the namespaces, interfaces, firewall rules and directory of the cluster `tag`;
    without a tag, of every cluster whose test process is gone (another test module's cluster
    may be running beside this one)."""
    if not tag:
        for d in Path(tempfile.gettempdir()).glob("sagebox-cluster-*"):
            try:
                pid, owned = (d / "owner").read_text().split()
            except (OSError, ValueError):
                continue
            if _alive(int(pid)):
                continue
            _sweep_tag(owned)
            unmount_under(str(d))
            shutil.rmtree(d, ignore_errors=True)
        return
    _sweep_tag(tag)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _sweep_tag(tag: str) -> None:
    prefix = PREFIX + tag
    for ns in sh("ip", "netns", "list", check=False).stdout.split("\n"):
        name = ns.split(" ")[0]
        if name.startswith("%s-%s" % (PREFIX, tag)):
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", name, check=False)
    links = json.loads(sh("ip", "-j", "link", "show", check=False).stdout or "[]")
    for link in links:
        if link.get("ifname", "").startswith(prefix):
            sh("ip", "link", "del", link["ifname"], check=False)
    rules = sh("iptables", "-S", "DOCKER-USER", check=False).stdout.splitlines()
    for rule in rules:
        if rule.startswith("-A DOCKER-USER -i %s" % prefix):
            sh("iptables", *rule.replace("-A", "-D", 1).split(), check=False)


def busybox_image(workdir: Path, reference: str, applets, scripts=None, dirs=("tmp",)) -> str:
    """Imports an image into this machine's engine whose whole root filesystem is Debian's
    static busybox (`applets` linked to it in /bin) and `scripts` (name -> text, executable in
    /bin): no libc, no shell but busybox's."""
    busybox = shutil.which("busybox")
    if not busybox:
        raise RuntimeError("the cluster tests need Debian's busybox-static: `apt-get install busybox-static`")
    rootfs = workdir / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    for d in dirs:
        (rootfs / d).mkdir()
    shutil.copy(busybox, rootfs / "bin" / "busybox")
    for applet in applets:
        os.symlink("busybox", rootfs / "bin" / applet)
    for name, text in (scripts or {}).items():
        (rootfs / "bin" / name).write_text(text)
        (rootfs / "bin" / name).chmod(0o755)
    archive = workdir / "rootfs.tar"
    sh("tar", "-C", str(rootfs), "-cf", str(archive), ".")
    sh("docker", "import", "--change", "ENV PATH=/bin", str(archive), reference)
    return reference
