"""SageMaker Studio with a real JupyterLab app, driven by boto3 and requests: a domain, a user
profile, a JupyterLab app that starts as a Jupyter container (Pending until Jupyter answers, then
InService), CreatePresignedDomainUrl opening it through sagebox's proxy with a session cookie, a
kernel over the proxied websocket with sagebox wired in, forged or missing tokens and foreign
Origins refused, and DeleteApp stopping the container while the home volume stays."""

import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests
from botocore.exceptions import ClientError

from support import docker_answers, unique

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
needs_docker = pytest.mark.skipif(not docker_answers() and os.environ.get("CI") != "true",
                                  reason="no Docker engine answers")


def docker_lines(*args):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def containers_of(arn):
    return docker_lines("ps", "-aq", "--filter", "label=sagebox.resource-arn=" + arn)


def volumes_of(arn):
    return docker_lines("volume", "ls", "-q", "--filter", "label=sagebox.resource-arn=" + arn)


def wait_app(sm, want, timeout=300, **ids):
    """Polls DescribeApp until `want`; fails early on Failed (unless wanted)."""
    deadline = time.time() + timeout
    while True:
        d = sm.describe_app(**ids)
        if d["Status"] == want:
            return d
        assert d["Status"] != "Failed" or want == "Failed", d.get("FailureReason")
        assert time.time() < deadline, f"app still {d['Status']} after {timeout}s"
        time.sleep(1)


@pytest.fixture(scope="module")
def studio(sm):
    """A domain with one user profile; deleted (with whatever apps are left) at the end."""
    domain = sm.create_domain(DomainName=unique("dom"), AuthMode="IAM", SubnetIds=["subnet-1"],
                              VpcId="vpc-1", DefaultUserSettings={"ExecutionRole": ROLE})
    user = unique("alice")
    sm.create_user_profile(DomainId=domain["DomainId"], UserProfileName=user)
    yield domain, user
    for app in sm.list_apps(DomainIdEquals=domain["DomainId"])["Apps"]:
        if app["Status"] not in ("Deleted", "Deleting"):
            ids = {k: app[k] for k in ("DomainId", "UserProfileName", "AppType", "AppName")}
            sm.delete_app(**ids)
            wait_app(sm, "Deleted", timeout=60, **ids)
    sm.delete_user_profile(DomainId=domain["DomainId"], UserProfileName=user)
    sm.delete_domain(DomainId=domain["DomainId"])


def test_the_domain_url_is_sagebox_studio_path(sm, studio, sagebox):
    domain, _ = studio
    d = sm.describe_domain(DomainId=domain["DomainId"])
    assert d["Url"] == domain["Url"]
    assert d["Url"].startswith(sagebox.url.rstrip("/") + "/_sagebox/studio/" + domain["DomainId"])


def test_presigned_domain_url_for_unknown_domain_or_user_is_not_found(sm, studio):
    domain, _ = studio
    for ids in ({"DomainId": "d-doesnotexist", "UserProfileName": "x"},
                {"DomainId": domain["DomainId"], "UserProfileName": "nobody"}):
        with pytest.raises(ClientError) as e:
            sm.create_presigned_domain_url(**ids)
        assert e.value.response["Error"]["Code"] == "ResourceNotFound"


@needs_docker
def test_jupyterlab_app_opens_through_the_presigned_domain_url_and_delete_stops_it(sm, studio):
    domain, user = studio
    ids = dict(DomainId=domain["DomainId"], UserProfileName=user, AppType="JupyterLab",
               AppName="default")
    arn = sm.create_app(**ids)["AppArn"]
    assert sm.describe_app(**ids)["Status"] == "Pending"
    wait_app(sm, "InService", **ids)
    assert len(containers_of(arn)) == 1
    listed = sm.list_apps(DomainIdEquals=domain["DomainId"])["Apps"]
    assert [(a["AppName"], a["Status"]) for a in listed] == [("default", "InService")]

    url = sm.create_presigned_domain_url(DomainId=domain["DomainId"], UserProfileName=user,
                                         SessionExpirationDurationInSeconds=1800)["AuthorizedUrl"]
    # no token, a forged one, a foreign Origin: refused
    bare = url.split("?")[0]
    assert requests.get(bare, timeout=30, allow_redirects=False).status_code == 403
    forged = url.rsplit(".", 1)[0] + ".AAAA"
    r = requests.get(forged, timeout=30, allow_redirects=False)
    assert r.status_code == 403 and "Invalid or Expired Auth Token" in r.text
    r = requests.get(url, timeout=30, allow_redirects=False, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403

    http = requests.Session()
    opened = http.get(url, timeout=60)
    assert opened.status_code == 200, opened.text[:500]
    assert opened.url.endswith("/jupyterlab/default/lab"), opened.url
    assert "jupyter" in opened.text.lower()
    parsed = urllib.parse.urlsplit(opened.url)
    origin = f"{parsed.scheme}://{parsed.netloc}"
    base = origin + parsed.path[: -len("lab")]
    assert http.get(base + "api/status", timeout=30).status_code == 200
    # without the session cookie nothing reaches Jupyter
    assert requests.get(base + "api/status", timeout=30).status_code == 403

    # a kernel over the proxied websocket, with sagebox wired in
    import websocket
    r = http.post(base + "api/kernels", json={"name": "python3"}, timeout=60)
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    cookies = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    ws = websocket.create_connection(base.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels",
                                     header=["Cookie: " + cookies], timeout=60)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": "import os; print(os.environ['AWS_ENDPOINT_URL'], os.path.expanduser('~'))",
                    "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out, deadline = "", time.time() + 60
    while time.time() < deadline:
        m = json.loads(ws.recv())
        if m.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out += m["content"]["text"]
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    ws.close()
    assert out.startswith("http://host.docker.internal:"), out
    assert "/home/sagemaker-user" in out

    r = http.put(base + "api/contents/kept.txt", timeout=30,
                 json={"type": "file", "format": "text", "content": "still here"})
    assert r.status_code in (200, 201), r.text

    sm.delete_app(**ids)
    wait_app(sm, "Deleted", timeout=60, **ids)
    assert containers_of(arn) == []
    profile = sm.describe_user_profile(DomainId=domain["DomainId"], UserProfileName=user)
    assert volumes_of(profile["UserProfileArn"]), "the user's home volume stays"
    r = http.get(base + "api/status", timeout=30)
    assert r.status_code == 503 and "not running" in r.text
    landing = http.get(url.split("?")[0], timeout=30)
    assert landing.status_code == 503 and "CreateApp" in landing.text
    with pytest.raises(ClientError) as e:
        sm.delete_app(**ids)
    assert e.value.response["Error"]["Code"] == "ResourceNotFound"

    # a new app of the same name mounts the same home
    sm.create_app(**ids)
    wait_app(sm, "InService", **ids)
    url = sm.create_presigned_domain_url(DomainId=domain["DomainId"], UserProfileName=user)["AuthorizedUrl"]
    http = requests.Session()
    assert http.get(url, timeout=60).status_code == 200
    r = http.get(base + "api/contents/kept.txt", timeout=30, params={"content": "1"})
    assert r.status_code == 200 and r.json()["content"] == "still here", r.text[:300]
    sm.delete_app(**ids)
    wait_app(sm, "Deleted", timeout=60, **ids)
    for v in volumes_of(profile["UserProfileArn"]):
        subprocess.run(["docker", "volume", "rm", v], capture_output=True, timeout=60)


def test_code_editor_fails_with_a_reason(sm, studio):
    domain, user = studio
    ids = dict(DomainId=domain["DomainId"], UserProfileName=user, AppType="CodeEditor",
               AppName="default")
    sm.create_app(**ids)
    d = wait_app(sm, "Failed", timeout=10, **ids)
    assert "CodeEditor" in d["FailureReason"] and "JupyterLab" in d["FailureReason"]
    sm.delete_app(**ids)
    wait_app(sm, "Deleted", timeout=30, **ids)


@needs_docker
def test_a_running_app_is_readopted_after_a_kill_and_one_whose_container_went_fails(
        spawn_sagebox, client_factory):
    import signal

    server = spawn_sagebox()
    sm = client_factory("sagemaker", server.url)
    domain = sm.create_domain(DomainName=unique("dom"), AuthMode="IAM", SubnetIds=["subnet-1"],
                              VpcId="vpc-1", DefaultUserSettings={"ExecutionRole": ROLE})["DomainId"]
    sm.create_user_profile(DomainId=domain, UserProfileName="bob")
    ids = dict(DomainId=domain, UserProfileName="bob", AppType="JupyterLab", AppName="default")
    arn = sm.create_app(**ids)["AppArn"]
    wait_app(sm, "InService", **ids)
    before = containers_of(arn)
    server.restart(signal.SIGKILL)
    assert sm.describe_app(**ids)["Status"] == "InService"
    url = sm.create_presigned_domain_url(DomainId=domain, UserProfileName="bob")["AuthorizedUrl"]
    deadline = time.time() + 30  # re-adoption runs in the background after startup
    while (opened := requests.get(url, timeout=30)).status_code == 503 and time.time() < deadline:
        time.sleep(0.5)
    assert opened.status_code == 200 and opened.url.endswith("/lab"), opened.text[:300]
    assert containers_of(arn) == before, "the same container serves"

    server.kill()
    subprocess.run(["docker", "rm", "-f", *before], capture_output=True, timeout=60)
    server.start()
    d = wait_app(sm, "Failed", timeout=30, **ids)
    assert "sagebox restarted" in d["FailureReason"], d
    sm.delete_app(**ids)
    wait_app(sm, "Deleted", timeout=30, **ids)
