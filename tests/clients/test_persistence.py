"""State survives a restart: stop the server (SIGTERM, or SIGKILL with no chance to clean up), start
it again on the same data dir, and find everything again. Also `sagebox env`, which points clients
at a running server."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests
from botocore.exceptions import ClientError

from support import ACCOUNT, IMAGE, ROLE_ARN, clean_aws_env, endpoint_config_arn, model_arn, sagebox_binary, unique


def seed(server, client_factory):
    """Create one of everything, plus a deleted model that must stay deleted."""
    sm = client_factory("sagemaker", server.url)
    logs = client_factory("logs", server.url)
    state = {
        "model": unique("Persist-Model"),
        "gone": unique("deleted-model"),
        "config": unique("persist-config"),
        "group": "/sagebox/persist/" + unique("group"),
        "stream": "algo-1",
        "t0": int(time.time() * 1000) - 10_000,
    }
    sm.create_model(
        ModelName=state["model"], ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={"Image": IMAGE, "Environment": {"KEEP": "me"}},
        Tags=[{"Key": "durable", "Value": "yes"}],
    )
    sm.create_model(ModelName=state["gone"], ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    sm.delete_model(ModelName=state["gone"])
    sm.create_endpoint_config(
        EndpointConfigName=state["config"],
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": state["model"],
                             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        Tags=[{"Key": "cfg", "Value": "1"}],
    )
    sm.add_tags(ResourceArn=model_arn(state["model"]), Tags=[{"Key": "added", "Value": "later"}])
    logs.create_log_group(logGroupName=state["group"])
    logs.create_log_stream(logGroupName=state["group"], logStreamName=state["stream"])
    logs.put_log_events(
        logGroupName=state["group"], logStreamName=state["stream"],
        logEvents=[{"timestamp": state["t0"] + i, "message": f"line {i}"} for i in range(3)],
    )
    state["created"] = sm.describe_model(ModelName=state["model"])["CreationTime"]
    return state


def verify(server, client_factory, state):
    sm = client_factory("sagemaker", server.url)
    logs = client_factory("logs", server.url)
    d = sm.describe_model(ModelName=state["model"])
    assert d["ModelArn"] == model_arn(state["model"])
    assert d["PrimaryContainer"]["Environment"] == {"KEEP": "me"}
    assert d["CreationTime"] == state["created"]
    assert [m["ModelName"] for m in sm.list_models(NameContains=state["model"])["Models"]] == [state["model"]]
    with pytest.raises(ClientError):
        sm.describe_model(ModelName=state["gone"])

    c = sm.describe_endpoint_config(EndpointConfigName=state["config"])
    assert c["EndpointConfigArn"] == endpoint_config_arn(state["config"])
    assert c["ProductionVariants"][0]["ModelName"] == state["model"]

    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=model_arn(state["model"]))["Tags"]}
    assert tags == {"durable": "yes", "added": "later"}
    cfg_tags = sm.list_tags(ResourceArn=endpoint_config_arn(state["config"]))["Tags"]
    assert cfg_tags == [{"Key": "cfg", "Value": "1"}]

    (g,) = logs.describe_log_groups(logGroupNamePrefix=state["group"])["logGroups"]
    assert g["logGroupName"] == state["group"]
    events = logs.get_log_events(
        logGroupName=state["group"], logStreamName=state["stream"], startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == ["line 0", "line 1", "line 2"]
    assert [e["timestamp"] for e in events] == [state["t0"] + i for i in range(3)]


def test_state_survives_sigterm_restart(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    state = seed(server, client_factory)
    server.restart(signal.SIGTERM)
    verify(server, client_factory, state)


def test_state_survives_sigkill_restart(spawn_sagebox, client_factory):
    # every acknowledged write must be durable: no graceful shutdown happens here
    server = spawn_sagebox()
    state = seed(server, client_factory)
    server.restart(signal.SIGKILL)
    verify(server, client_factory, state)


def test_small_objects_whose_files_lost_their_bytes_come_back_from_the_journal(spawn_sagebox, client_factory):
    """A small PUT is answered once its bytes are flushed in the journal (objects/journal/), before
    its own file is: what a power loss can leave is the journal with the object's file empty. A
    kill -9 before the journal is checkpointed, then each such file emptied, is that state; the
    restart writes every file again from the journal, and each GET answers the bytes PUT."""
    server = spawn_sagebox()
    s3 = client_factory("s3", server.url)
    bucket = unique("journal")
    s3.create_bucket(Bucket=bucket)
    journal = server.data_dir / "objects" / "journal"
    for _ in range(5):
        bodies = {f"k{i}": os.urandom(100 + i * 997) for i in range(8)}
        for key, body in bodies.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        server.stop(signal.SIGKILL)
        held = b"".join(p.read_bytes() for p in journal.glob("*.log"))
        if all(body in held for body in bodies.values()):
            break
        # A checkpoint flushed and dropped the records before the kill (a slow host): again.
        server.start()
    else:
        pytest.fail("in 5 tries, the kill never came before the journal's checkpoint")
    emptied = 0
    for f in (server.data_dir / "objects" / "blobs").rglob("*"):
        if f.is_file() and f.read_bytes() in bodies.values():
            f.write_bytes(b"")
            emptied += 1
    assert emptied == len(bodies)

    server.start()
    for key, body in bodies.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    restored = re.findall(r"restored (\d+) small object files from the journal", server.log_tail(10**8))
    assert restored and int(restored[-1]) >= len(bodies), server.log_tail()


def test_sigterm_stops_the_server_cleanly(spawn_sagebox):
    server = spawn_sagebox()
    assert server.stop(signal.SIGTERM) == 0, server.log_tail()


def test_two_restarts_keep_state_and_accept_new_writes(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    state = seed(server, client_factory)
    server.restart(signal.SIGKILL)
    logs = client_factory("logs", server.url)
    logs.put_log_events(
        logGroupName=state["group"], logStreamName=state["stream"],
        logEvents=[{"timestamp": state["t0"] + 10, "message": "after restart"}],
    )
    sm = client_factory("sagemaker", server.url)
    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName=state["model"], ExecutionRoleArn=ROLE_ARN, PrimaryContainer={"Image": IMAGE})
    assert e.value.response["Error"]["Message"].startswith("Cannot create already existing model")
    server.restart(signal.SIGTERM)
    events = client_factory("logs", server.url).get_log_events(
        logGroupName=state["group"], logStreamName=state["stream"], startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == ["line 0", "line 1", "line 2", "after restart"]


def test_restart_resets_uptime(spawn_sagebox):
    server = spawn_sagebox()
    time.sleep(1.5)
    before = requests.get(server.url + "/_sagebox/health", timeout=10).json()["uptime_seconds"]
    server.restart(signal.SIGTERM)
    after = requests.get(server.url + "/_sagebox/health", timeout=10).json()["uptime_seconds"]
    assert before >= 1.5
    assert after < before


# --- sagebox env ------------------------------------------------------------------------------


def parse_exports(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        assert line.startswith("export "), line
        key, _, value = line[len("export "):].partition("=")
        out[key] = value.strip("'\"")
    return out


def sagebox_env(*args):
    r = subprocess.run([str(sagebox_binary()), "env", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return parse_exports(r.stdout)


def test_env_prints_exports_for_the_bind_address(sagebox):
    env = sagebox_env("--bind", f"127.0.0.1:{sagebox.port}")
    assert env["AWS_ENDPOINT_URL"] == sagebox.url
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_SECRET_ACCESS_KEY"]


def test_env_follows_the_region_flag():
    env = sagebox_env("--bind", "127.0.0.1:4599", "--region", "eu-west-1")
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"


def test_env_exports_alone_point_clients_at_sagebox(sagebox):
    """With only what `sagebox env` prints (no --endpoint-url, no region flag), boto3 and the AWS
    CLI reach sagebox."""
    exports = sagebox_env("--bind", f"127.0.0.1:{sagebox.port}")
    env = clean_aws_env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update(exports)

    script = (
        "import boto3; "
        "print(boto3.client('sts').get_caller_identity()['Arn']); "
        "print(boto3.client('sagemaker').list_models(MaxResults=1)['ResponseMetadata']['HTTPStatusCode'])"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [f"arn:aws:sts::{ACCOUNT}:assumed-role/SageMakerRole/sagebox", "200"]

    r = subprocess.run(
        [sys.executable, "-m", "awscli", "--output", "json", "sts", "get-caller-identity"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert r.returncode == 0, r.stderr
    assert f'"Account": "{ACCOUNT}"' in r.stdout
