"""Helpers for the image contract tests: the /opt/ml layout SageMaker gives a training container,
`docker run … train`, a serving container on an ephemeral 127.0.0.1 port, and small data helpers.

Every container carries the label sagebox.owner=tests-images and is removed by that label.
"""
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "fixtures")
OWNER_LABEL = "sagebox.owner=tests-images"


def fixture(*parts):
    return os.path.join(FIXTURES, *parts)


def docker(*args, check=True, timeout=600, **kw):
    return subprocess.run(["docker", *args], check=check, timeout=timeout, capture_output=True, text=True, **kw)


def remove_test_containers():
    ids = docker("ps", "-aq", "--filter", "label=" + OWNER_LABEL, check=False).stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


class OptMl:
    """A host directory laid out as /opt/ml for one training job, with config files exactly as
    SageMaker writes them (hyperparameter values are strings)."""

    def __init__(self, root, hyperparameters, channels, instance_type="ml.m5.large"):
        self.root = str(root)
        cfg = os.path.join(self.root, "input", "config")
        os.makedirs(cfg, exist_ok=True)
        for d in ("model", "output", os.path.join("output", "data"), "code"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        hps = {k: v if isinstance(v, str) else json.dumps(v) for k, v in hyperparameters.items()}
        idc = {}
        for name, spec in channels.items():
            entry = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
            if spec.get("content_type"):
                entry["ContentType"] = spec["content_type"]
            idc[name] = entry
            dest = os.path.join(self.root, "input", "data", name)
            os.makedirs(dest, exist_ok=True)
            for src in spec["files"]:
                shutil.copy(src, dest)
        rc = {
            "current_host": "algo-1",
            "current_instance_type": instance_type,
            "current_group_name": "homogeneousCluster",
            "hosts": ["algo-1"],
            "instance_groups": [
                {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": ["algo-1"]}
            ],
            "network_interface_name": "eth0",
        }
        for name, obj in (("hyperparameters.json", hps), ("inputdataconfig.json", idc), ("resourceconfig.json", rc)):
            with open(os.path.join(cfg, name), "w") as f:
                json.dump(obj, f)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    @property
    def model_dir(self):
        return self.path("model")

    def failure(self):
        p = self.path("output", "failure")
        return open(p).read() if os.path.exists(p) else None


def run_training(image, optml, env=None, timeout=600):
    """`docker run --rm IMAGE train` with the job's /opt/ml; returns (exit code, combined log)."""
    cmd = ["run", "--rm", "--label", OWNER_LABEL, "--hostname", "algo-1", "-v", "%s:/opt/ml" % optml.root]
    for k, v in (env or {}).items():
        cmd += ["-e", "%s=%s" % (k, v)]
    proc = subprocess.run(["docker", *cmd, image, "train"], capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


class Endpoint:
    """A serving container: `docker run -d -p 127.0.0.1::8080 -v MODEL:/opt/ml/model IMAGE serve`."""

    def __init__(self, image, model_dir, env=None, extra_mounts=(), args=("serve",), port=8080):
        self.image, self.model_dir, self.env = image, model_dir, env or {}
        self.extra_mounts, self.args, self.container_port = extra_mounts, args, port
        self.cid = None
        self.url = None

    def __enter__(self):
        cmd = ["run", "-d", "--label", OWNER_LABEL, "-p", "127.0.0.1::%d" % self.container_port]
        if self.model_dir:
            cmd += ["-v", "%s:/opt/ml/model" % self.model_dir]
        for m in self.extra_mounts:
            cmd += ["-v", m]
        for k, v in self.env.items():
            cmd += ["-e", "%s=%s" % (k, v)]
        self.cid = docker(*cmd, self.image, *self.args).stdout.strip()
        port = docker("port", self.cid, "%d/tcp" % self.container_port).stdout.strip().splitlines()[0]
        self.url = "http://" + port.replace("0.0.0.0", "127.0.0.1")
        return self

    def __exit__(self, *exc):
        if self.cid:
            docker("rm", "-f", self.cid, check=False)

    def logs(self):
        p = docker("logs", self.cid, check=False)
        return p.stdout + p.stderr

    def wait_ready(self, path="/ping", timeout=120):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            state = docker("inspect", "-f", "{{.State.Running}}", self.cid, check=False).stdout.strip()
            if state == "false":
                raise AssertionError("container exited before answering %s:\n%s" % (path, self.logs()))
            try:
                status, body, _ = self.request("GET", path)
                if status == 200:
                    return body
                last = "%s %s" % (status, body[:300])
            except OSError as e:
                last = str(e)
            time.sleep(0.5)
        raise AssertionError("%s not ready after %ss (%s):\n%s" % (path, timeout, last, self.logs()))

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def invoke(self, body, content_type, accept=None):
        headers = {"Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        if isinstance(body, str):
            body = body.encode()
        return self.request("POST", "/invocations", body, headers)


# ---------------------------------------------------------------- data helpers

def read_csv(path):
    """(labels, features) of a label-first CSV fixture."""
    data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    return data[:, 0], data[:, 1:]


def csv_body(X):
    return "\n".join(",".join("%g" % v for v in row) for row in X) + "\n"


def libsvm_body(X, base=0):
    """libsvm request lines without labels; column i becomes index i + base."""
    lines = []
    for row in X:
        lines.append(" ".join("%d:%g" % (i + base, v) for i, v in enumerate(row) if v != 0))
    return "\n".join(lines) + "\n"


def make_sourcedir(src_dir, dest):
    """sourcedir.tar.gz as the SageMaker SDK uploads it: the directory's files at the archive root."""
    with tarfile.open(dest, "w:gz") as tar:
        for name in sorted(os.listdir(src_dir)):
            if name == "__pycache__":
                continue
            tar.add(os.path.join(src_dir, name), arcname=name)
    return dest


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    return buf.getvalue()
