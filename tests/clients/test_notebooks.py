"""Notebook instances with real Jupyter containers, driven by boto3 and the AWS CLI: lifecycle
configurations (OnCreate once, OnStart every start), the volume kept across stop/start and removed
on delete, the presigned URL and its session (expired and forged tokens refused), kernels over
websockets through sagebox's proxy, AWS's errors, and both example notebooks executed headlessly
inside an instance (train, deploy, predict, batch transform, clean up) with no network beyond
this machine."""

import base64
import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def nb_arn(name):
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance/{name.lower()}"


def wait_status(sm, name, want, timeout=900):
    """Polls DescribeNotebookInstance until `want`; fails early on Failed (unless wanted)."""
    deadline = time.time() + timeout
    while True:
        d = sm.describe_notebook_instance(NotebookInstanceName=name)
        status = d["NotebookInstanceStatus"]
        if status == want:
            return d
        assert status != "Failed", d.get("FailureReason")
        assert time.time() < deadline, f"{name} still {status} after {timeout}s"
        time.sleep(1)


def wait_gone(sm, name, timeout=120):
    deadline = time.time() + timeout
    while True:
        try:
            sm.describe_notebook_instance(NotebookInstanceName=name)
        except ClientError as e:
            assert e.response["Error"]["Message"] == "RecordNotFound"
            return
        assert time.time() < deadline
        time.sleep(0.5)


def docker_lines(*args):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def containers_of(arn):
    return docker_lines("ps", "-aq", "--filter", "label=sagebox.resource-arn=" + arn)


def volumes_of(arn):
    return docker_lines("volume", "ls", "-q", "--filter", "label=sagebox.resource-arn=" + arn)


class Jupyter:
    """A browser's view of an instance: a requests session that opened the presigned URL."""

    def __init__(self, sm, name, **kw):
        url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name, **kw)["AuthorizedUrl"]
        self.http = requests.Session()
        self.opened = self.http.get(url, timeout=60)
        parsed = urllib.parse.urlsplit(url)
        self.origin = f"{parsed.scheme}://{parsed.netloc}"
        self.base = parsed.path + "/"

    def api(self, method, path, **kw):
        return self.http.request(method, self.origin + self.base + path, timeout=60, **kw)

    def read(self, path):
        r = self.api("GET", "api/contents/" + path, params={"content": "1", "type": "file", "format": "text"})
        assert r.status_code == 200, (r.status_code, r.text[:500])
        return r.json()["content"]

    def write(self, path, text):
        r = self.api("PUT", "api/contents/" + path,
                     json={"type": "file", "format": "text", "content": text})
        assert r.status_code in (200, 201), (r.status_code, r.text[:500])

    def run_code(self, code, timeout=60):
        """Starts a kernel, runs `code` over the kernel's websocket, returns its stdout."""
        import websocket

        r = self.api("POST", "api/kernels", json={"name": "python3"})
        assert r.status_code == 201, r.text
        kernel = r.json()["id"]
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        ws_url = self.origin.replace("http", "ws", 1) + self.base + f"api/kernels/{kernel}/channels"
        ws = websocket.create_connection(ws_url, header=["Cookie: " + cookies], timeout=timeout)
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        out, deadline = [], time.time() + timeout
        try:
            while time.time() < deadline:
                m = json.loads(ws.recv())
                if m.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
                    out.append(m["content"]["text"])
                elif m["msg_type"] == "error":
                    raise AssertionError("\n".join(m["content"]["traceback"]))
                elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    return "".join(out)
            raise AssertionError("no answer from the kernel within %ss" % timeout)
        finally:
            ws.close()
            self.api("DELETE", f"api/kernels/{kernel}")

    def run_in_terminal(self, command, expect, timeout=60):
        """Opens a Jupyter terminal over its websocket, types `command`, waits for `expect`."""
        import websocket

        r = self.api("POST", "api/terminals")
        assert r.status_code == 200, r.text
        term = r.json()["name"]
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        ws_url = self.origin.replace("http", "ws", 1) + self.base + f"terminals/websocket/{term}"
        ws = websocket.create_connection(ws_url, header=["Cookie: " + cookies], timeout=timeout)
        seen, deadline = "", time.time() + timeout
        try:
            ws.send(json.dumps(["stdin", command + "\r"]))
            while expect not in seen and time.time() < deadline:
                m = json.loads(ws.recv())
                if m[0] == "stdout":
                    seen += m[1]
            assert expect in seen, seen
            return seen
        finally:
            ws.close()
            self.api("DELETE", f"api/terminals/{term}")


# ----- lifecycle configurations (no container) -----

def test_lifecycle_config_create_describe_update_list_delete(sm):
    name = unique("lc")
    arn = sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name,
        OnCreate=[{"Content": b64("echo created")}],
        OnStart=[{"Content": b64("echo started")}],
    )["NotebookInstanceLifecycleConfigArn"]
    assert arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:notebook-instance-lifecycle-config/{name.lower()}"
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert d["OnCreate"] == [{"Content": b64("echo created")}]
    assert d["OnStart"] == [{"Content": b64("echo started")}]
    assert d["CreationTime"] <= d["LastModifiedTime"]

    sm.update_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name,
                                                 OnStart=[{"Content": b64("echo again")}])
    d = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert d["OnStart"] == [{"Content": b64("echo again")}] and "OnCreate" not in d

    listed = sm.list_notebook_instance_lifecycle_configs(NameContains=name)["NotebookInstanceLifecycleConfigs"]
    assert [c["NotebookInstanceLifecycleConfigName"] for c in listed] == [name]

    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "already exists" in e.value.response["Error"]["Message"]

    sm.delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_lifecycle_scripts_must_be_base64_and_single(sm_raw):
    for hooks in ([{"Content": "not base64!"}], [{"Content": b64("a")}, {"Content": b64("b")}]):
        with pytest.raises(ClientError) as e:
            sm_raw.create_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName=unique("lc"), OnStart=hooks)
        assert e.value.response["Error"]["Code"] == "ValidationException"


def test_unknown_notebook_instance_and_lifecycle_config_errors(sm):
    with pytest.raises(ClientError) as e:
        sm.describe_notebook_instance(NotebookInstanceName=unique("nope"))
    assert e.value.response["Error"] == {"Code": "ValidationException", "Message": "RecordNotFound"}
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance(NotebookInstanceName=unique("nb"), InstanceType="ml.t3.medium",
                                    RoleArn=ROLE, LifecycleConfigName=unique("missing"))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        sm.create_notebook_instance(NotebookInstanceName=unique("nb"), InstanceType="ml.nope",
                                    RoleArn=ROLE)
    assert e.value.response["Error"]["Code"] == "ValidationException"


# ----- running instances -----

@pytest.fixture(scope="module")
def notebook(sm):
    """One InService instance shared by the proxy and example-notebook tests."""
    name = unique("nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                Tags=[{"Key": "team", "Value": "ml"}])
    wait_status(sm, name, "InService")
    yield name
    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "Stopped", timeout=120)
    sm.delete_notebook_instance(NotebookInstanceName=name)
    wait_gone(sm, name)


@needs_docker
def test_describe_and_list_an_instance_in_service(sm, notebook, sagebox):
    d = sm.describe_notebook_instance(NotebookInstanceName=notebook)
    assert d["NotebookInstanceArn"] == nb_arn(notebook)
    assert d["InstanceType"] == "ml.t3.medium" and d["RoleArn"] == ROLE
    assert d["VolumeSizeInGB"] == 5 and d["DirectInternetAccess"] == "Enabled"
    assert d["RootAccess"] == "Enabled"
    assert d["Url"].endswith("/_sagebox/notebooks/" + notebook.lower())
    listed = sm.list_notebook_instances(NameContains=notebook, StatusEquals="InService")
    assert [n["NotebookInstanceName"] for n in listed["NotebookInstances"]] == [notebook]
    tags = sm.list_tags(ResourceArn=d["NotebookInstanceArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "ml"}]
    # AWS's status rules
    for call in (sm.delete_notebook_instance, sm.start_notebook_instance):
        with pytest.raises(ClientError) as e:
            call(NotebookInstanceName=notebook)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert "Status (InService) not in ([Stopped, Failed])" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.update_notebook_instance(NotebookInstanceName=notebook, VolumeSizeInGB=10)
    assert "Unable to transition to (Updating)" in e.value.response["Error"]["Message"]
    # the container publishes Jupyter on the loopback interface only
    ports = docker_lines("port", containers_of(nb_arn(notebook))[0])
    assert ports and all(p.startswith("127.0.0.1:") for p in ports if ":" in p), ports


@needs_docker
def test_presigned_url_opens_jupyter_and_forged_or_missing_tokens_are_refused(sm, notebook):
    j = Jupyter(sm, notebook, SessionExpirationDurationInSeconds=1800)
    assert j.opened.status_code == 200, j.opened.text[:500]
    assert j.opened.url.endswith("/tree")
    assert "jupyter" in j.opened.text.lower()
    assert j.api("GET", "api/status").status_code == 200
    cookie = next(c for c in j.http.cookies if c.name.startswith("sagebox-notebook-"))
    assert 1700 <= cookie.expires - time.time() <= 1800

    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=notebook)["AuthorizedUrl"]
    payload, sig = url.split("authToken=")[1].split(".")
    forged_sig = base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("=")
    for bad in (url.replace(sig, forged_sig), url.split("?")[0] + "?authToken=garbage"):
        r = requests.get(bad, timeout=30, allow_redirects=False)
        assert r.status_code == 403, r.text
        assert "Invalid or Expired Auth Token" in r.text
    # without the session cookie nothing reaches Jupyter, not even with a guessed token header
    r = requests.get(j.origin + j.base + "api/contents", timeout=30,
                     headers={"Authorization": "token guess"})
    assert r.status_code == 403
    # a token for one instance does not open another
    other = url.split("?")[0].replace(notebook.lower(), "someone-else") + "?authToken=" + payload + "." + sig
    assert requests.get(other, timeout=30, allow_redirects=False).status_code == 403


@needs_docker
def test_expired_presigned_url_is_refused(spawn_sagebox, client_factory):
    server = spawn_sagebox("--notebook-url-ttl", "1")
    sm = client_factory("sagemaker", server.url)
    name = unique("nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    url = sm.create_presigned_notebook_instance_url(NotebookInstanceName=name)["AuthorizedUrl"]
    time.sleep(1.5)
    r = requests.get(url, timeout=30, allow_redirects=False)
    assert r.status_code == 403 and "expired" in r.text


@needs_docker
def test_kernel_and_terminal_over_the_proxied_websockets_with_sagebox_wired_in(sm, notebook):
    j = Jupyter(sm, notebook)
    out = j.run_code(
        "import os, json, boto3, sagemaker\n"
        "print(os.environ['AWS_ENDPOINT_URL'].startswith('http://host.docker.internal:'))\n"
        "print(sagemaker.get_execution_role())\n"
        "print(sagemaker.Session().default_bucket())\n"
        "print(json.load(open('/opt/ml/metadata/resource-metadata.json'))['ResourceName'])\n"
        "print(boto3.client('sagemaker').describe_notebook_instance("
        f"NotebookInstanceName='{notebook}')['NotebookInstanceStatus'])\n",
        timeout=120,
    )
    # (the SDK also logs which config files it read)
    lines = [line for line in out.splitlines() if line and not line.startswith("sagemaker.config")]
    assert lines == ["True", ROLE, f"sagemaker-{REGION}-{ACCOUNT}", notebook, "InService"], out
    assert "Applied value from config key = SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket" in out
    # the terminal: a root shell with the AWS CLI-ready environment
    j.run_in_terminal("echo sagebox-$((6*7)) $(whoami) $AWS_REGION", "sagebox-42 root us-east-1")
    specs = j.api("GET", "api/kernelspecs").json()["kernelspecs"]
    assert {"python3", "conda_python3"} <= set(specs)


@needs_docker
def test_the_aws_cli_in_a_notebook_and_a_terminal_round_trips_objects_through_sagebox(
        sm, notebook, sagebox, client_factory):
    s3 = client_factory("s3", sagebox.url)
    bucket = unique("cli-in-notebook")
    s3.create_bucket(Bucket=bucket)
    j = Jupyter(sm, notebook)
    out = j.run_code(
        "!echo written-by-the-notebook > /tmp/up.txt\n"
        f"!aws s3 cp /tmp/up.txt s3://{bucket}/notebook/up.txt\n"
        f"!aws s3 ls s3://{bucket}/notebook/\n"
        f"!aws s3 cp s3://{bucket}/notebook/up.txt -\n",
        timeout=120,
    )
    assert s3.get_object(Bucket=bucket, Key="notebook/up.txt")["Body"].read() == b"written-by-the-notebook\n"
    assert "up.txt" in out and out.rstrip().endswith("written-by-the-notebook"), out
    s3.put_object(Bucket=bucket, Key="host/down.txt", Body=b"written-by-the-host\n")
    # upper-cased, so the terminal's echo of the command cannot match
    j.run_in_terminal(f"aws s3 cp s3://{bucket}/host/down.txt - | tr a-z A-Z", "WRITTEN-BY-THE-HOST")
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]} == {"notebook/up.txt", "host/down.txt"}


@needs_docker
def test_lifecycle_scripts_run_and_the_volume_survives_stop_start_then_goes_on_delete(sm, aws, logs):
    lc = unique("lc")
    aws("sagemaker", "create-notebook-instance-lifecycle-config",
        "--notebook-instance-lifecycle-config-name", lc,
        "--on-create", "Content=" + b64("#!/bin/bash\nset -e\necho created > /home/ec2-user/SageMaker/created.txt\necho on-create ran\n"),
        "--on-start", "Content=" + b64("#!/bin/bash\nset -e\ndate +%s.%N >> /home/ec2-user/SageMaker/starts.txt\necho on-start ran\n"))
    name = unique("nb")
    arn = aws("sagemaker", "create-notebook-instance", "--notebook-instance-name", name,
              "--instance-type", "ml.t3.medium", "--role-arn", ROLE,
              "--lifecycle-config-name", lc, "--volume-size-in-gb", "8").json["NotebookInstanceArn"]
    assert arn == nb_arn(name)
    d = wait_status(sm, name, "InService")
    assert d["NotebookInstanceLifecycleConfigName"] == lc and d["VolumeSizeInGB"] == 8
    j = Jupyter(sm, name)
    assert j.read("created.txt") == "created\n"
    assert len(j.read("starts.txt").splitlines()) == 1
    assert j.api("PUT", "api/contents/notes", json={"type": "directory"}).status_code in (200, 201)
    j.write("notes/kept.txt", "my work\n")
    volumes = volumes_of(arn)
    assert len(volumes) == 1

    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "Stopped", timeout=120)
    assert containers_of(arn) == [] and volumes_of(arn) == volumes
    sm.update_notebook_instance(NotebookInstanceName=name, VolumeSizeInGB=10)
    assert sm.describe_notebook_instance(NotebookInstanceName=name)["VolumeSizeInGB"] == 10
    sm.start_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "InService")
    j = Jupyter(sm, name)
    assert j.read("created.txt") == "created\n", "OnCreate runs on the first start only"
    assert len(j.read("starts.txt").splitlines()) == 2, "OnStart runs on every start"
    assert j.read("notes/kept.txt") == "my work\n"

    streams = {s["logStreamName"]: s for s in logs.describe_log_streams(
        logGroupName="/aws/sagemaker/NotebookInstances", logStreamNamePrefix=name + "/")["logStreams"]}
    assert {f"{name}/LifecycleConfigOnCreate", f"{name}/LifecycleConfigOnStart", f"{name}/jupyter.log"} <= set(streams)
    events = logs.get_log_events(logGroupName="/aws/sagemaker/NotebookInstances",
                                 logStreamName=f"{name}/LifecycleConfigOnStart", startFromHead=True)["events"]
    assert [e["message"] for e in events].count("on-start ran") == 2

    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "Stopped", timeout=120)
    sm.delete_notebook_instance(NotebookInstanceName=name)
    wait_gone(sm, name)
    assert containers_of(arn) == [] and volumes_of(arn) == []


@needs_docker
def test_a_failing_lifecycle_script_fails_the_instance_with_a_reason(sm):
    lc = unique("lc")
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=lc,
        OnStart=[{"Content": b64("#!/bin/bash\necho about to fail\nexit 7\n")}])
    name = unique("nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName=lc)
    d = wait_status(sm, name, "Failed")
    assert "Notebook Instance Lifecycle Config" in d["FailureReason"]
    assert "exited with code 7" in d["FailureReason"], d["FailureReason"]
    assert containers_of(nb_arn(name)) == []
    # a failed instance can be fixed and started again, or deleted
    sm.update_notebook_instance(NotebookInstanceName=name, DisassociateLifecycleConfig=True)
    assert "NotebookInstanceLifecycleConfigName" not in sm.describe_notebook_instance(NotebookInstanceName=name)
    sm.delete_notebook_instance(NotebookInstanceName=name)
    wait_gone(sm, name)


# ----- the example notebooks, run top to bottom inside an instance -----

@needs_docker
def test_both_example_notebooks_run_headless_inside_an_instance(sm, sagebox, notebook):
    """Both at once (each spends most of its time in the SDK's status polling)."""
    examples = ["linear_learner_digits.ipynb", "xgboost_regression.ipynb"]
    container = containers_of(nb_arn(notebook))[0]
    before = {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]}
    owner = "label=sagebox.owner=" + (sagebox.data_dir / "instance-id").read_text().strip()
    containers_before = set(docker_lines("ps", "-aq", "--filter", owner))
    runs = {
        example: subprocess.Popen(
            ["docker", "exec", "-w", "/tmp", container, "/opt/venv/bin/jupyter", "nbconvert",
             "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=900",
             "--output-dir", "/tmp/executed", "/home/ec2-user/SageMaker/SageMaker Examples/" + example],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for example in examples
    }
    for example, proc in runs.items():
        out, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, f"{example}:\n{out[-3000:]}{err[-6000:]}"
        executed = json.loads(subprocess.run(
            ["docker", "exec", container, "cat", "/tmp/executed/" + example],
            capture_output=True, text=True, timeout=60).stdout)
        code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert code_cells and all(c.get("execution_count") for c in code_cells), f"every cell of {example} ran"
        texts = [o.get("text", "") for o in code_cells[-1].get("outputs", [])]
        printed = "".join("".join(t) if isinstance(t, list) else t for t in texts)
        assert printed.strip(), f"{example}'s last cell reports its metric"
    after = {e["EndpointName"] for e in sm.list_endpoints(MaxResults=100)["Endpoints"]}
    assert after <= before, f"endpoints left behind: {after - before}"
    deadline = time.time() + 30  # DeleteEndpoint removes its containers in the background
    while (left := set(docker_lines("ps", "-aq", "--filter", owner)) - containers_before) and time.time() < deadline:
        time.sleep(1)
    assert not left, f"containers left behind: {left}"


def test_sample_bucket_is_seeded_with_the_examples_datasets(sagebox, client_factory):
    s3 = client_factory("s3", sagebox.url)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="sagemaker-sample-files")["Contents"]}
    assert "datasets/image/MNIST/mnist.pkl.gz" in keys
    assert "datasets/tabular/uci_abalone/abalone.libsvm" in keys
    head = s3.head_object(Bucket="sagemaker-sample-files", Key="datasets/tabular/uci_abalone/abalone.libsvm")
    assert "diabetes" in head["Metadata"]["source"].lower()


def test_no_samples_flag_skips_the_sample_buckets(spawn_sagebox, client_factory):
    server = spawn_sagebox("--no-samples")
    s3 = client_factory("s3", server.url)
    assert s3.list_buckets()["Buckets"] == []


@needs_docker
def test_a_serving_instance_is_readopted_after_sagebox_is_killed(spawn_sagebox, client_factory):
    import signal

    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    name = unique("nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE)
    wait_status(sm, name, "InService")
    before = containers_of(nb_arn(name))
    server.restart(signal.SIGKILL)
    assert sm.describe_notebook_instance(NotebookInstanceName=name)["NotebookInstanceStatus"] == "InService"
    deadline = time.time() + 30  # re-adoption runs in the background after startup
    while (j := Jupyter(sm, name)).opened.status_code == 503 and time.time() < deadline:
        time.sleep(0.5)
    assert j.opened.status_code == 200 and j.opened.url.endswith("/tree")
    assert containers_of(nb_arn(name)) == before, "the same container serves"


@needs_docker
def test_output_printed_while_sagebox_was_down_is_stored_once(spawn_sagebox, client_factory):
    import collections
    import signal

    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    logs = client_factory("logs", server.url)
    lc = unique("lc")
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=lc,
        OnStart=[{"Content": b64("#!/bin/bash\nfor i in 1 2 3; do echo on-start $i; done\n")}])
    name = unique("nb")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=ROLE,
                                LifecycleConfigName=lc)
    wait_status(sm, name, "InService")
    (container,) = containers_of(nb_arn(name))
    port = docker_lines("port", container, "8888/tcp")[0].rsplit(":", 1)[1]
    group = "/aws/sagemaker/NotebookInstances"

    def stored():
        """Every line of the instance's streams (Jupyter's and its lifecycle scripts')."""
        lines = collections.Counter()
        streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=name + "/")["logStreams"]
        for s in streams:
            events = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                                         startFromHead=True)["events"]
            lines.update(e["message"] for e in events)
        return lines

    def printed():
        """What the container printed, less the markers sagebox reads and does not store."""
        out = subprocess.run(["docker", "logs", container], capture_output=True, text=True, timeout=60)
        return collections.Counter(line for line in (out.stdout + out.stderr).splitlines()
                                   if not line.startswith("[sagebox-lifecycle] "))

    def visit(path):
        requests.get("http://127.0.0.1:%s/%s" % (port, path), timeout=10)

    server.kill()
    for i in range(10):
        visit("while-down-%d" % i)
        time.sleep(0.1)
    time.sleep(1.5)  # Docker's `since` counts whole seconds: the gap must span some
    server.start()
    deadline = time.time() + 60
    while True:
        visit("after-restart")
        before, now, after = stored(), printed(), stored()
        if before == after and now == after and any("after-restart" in line for line in now):
            break
        assert time.time() < deadline, (now - after, after - now)
        time.sleep(1)
    for i in range(10):
        assert sum(n for line, n in now.items() if "/while-down-%d " % i in line) == 1, now
    assert after["on-start 3"] == 1
    sm.stop_notebook_instance(NotebookInstanceName=name)
    wait_status(sm, name, "Stopped", timeout=120)
    sm.delete_notebook_instance(NotebookInstanceName=name)
    wait_gone(sm, name)
