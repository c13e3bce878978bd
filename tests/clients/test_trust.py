"""Who may talk to sagebox in open mode: one user on one machine. A page in that user's browser (DNS
rebinding, cross-site requests) and a container sagebox did not start must not act as the user; S3
objects must not script against the console; idle and slow connections must not pile up."""

import re
import socket
import subprocess
import time

import pytest
import requests

from support import build_byo_image, docker_answers, unique


def raw(server, data: bytes, timeout=10.0) -> bytes:
    """Sends bytes on a fresh connection and returns what comes back until the server closes."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


# --- DNS rebinding: only the names sagebox serves ---

def test_a_rebound_host_name_is_refused_on_every_surface(sagebox, s3):
    bucket = unique("rebind")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    evil = {"Host": "evil.example:4599"}
    for method, path, extra in [
        ("GET", f"/{bucket}/k", {}),
        ("POST", "/", {"X-Amz-Target": "SageMaker.ListModels",
                       "Content-Type": "application/x-amz-json-1.1"}),
        ("GET", "/_sagebox/", {}),
        ("GET", "/_sagebox/health", {}),
        ("POST", "/endpoints/x/invocations", {}),
        ("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}),
    ]:
        r = requests.request(method, sagebox.url + path, headers={**evil, **extra},
                             data=b"Action=GetCallerIdentity" if "form" in str(extra) else b"{}")
        assert r.status_code == 421, (path, r.status_code, r.text)
        assert "secret" not in r.text and "DNS rebinding" in r.text
    for ok in ["127.0.0.1", "localhost:4599", f"{bucket}.localhost:4599", "host.docker.internal"]:
        r = requests.get(sagebox.url + ("/k" if ".localhost" in ok else f"/{bucket}/k"),
                         headers={"Host": ok})
        assert r.status_code == 200 and r.content == b"secret", ok


def test_allowed_hosts_adds_names(spawn_sagebox):
    server = spawn_sagebox("--allowed-hosts", "sagebox.lan,.corp.example")
    for host, code in [("sagebox.lan", 200), ("a.corp.example:1", 200), ("evil.example", 421)]:
        assert requests.get(server.url + "/_sagebox/health", headers={"Host": host}).status_code == code


# --- Cross-site requests: a foreign Origin is refused on every surface ---

def test_a_cross_site_simple_post_cannot_delete_objects(sagebox, s3):
    bucket = unique("csrf")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = b'<Delete><Object><Key>k</Key></Object></Delete>'
    # What a form on another site's page sends: text/plain, its own Origin, no custom headers.
    page = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    r = requests.post(f"{sagebox.url}/{bucket}?delete", data=body, headers=page)
    assert r.status_code == 403, r.text
    # The same request without an Origin still needs the digest S3 requires of DeleteObjects.
    r = requests.post(f"{sagebox.url}/{bucket}?delete", data=body, headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and "<Code>InvalidRequest</Code>" in r.text
    assert "Missing required header for this request: Content-MD5" in r.text
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    # boto3's DeleteObjects (with its checksum header) still works.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_foreign_origins_are_refused_on_every_api(sagebox, s3):
    bucket = unique("origin")
    s3.create_bucket(Bucket=bucket)
    cases = [
        (f"/{bucket}/k?uploads", b"", {}),                                   # CreateMultipartUpload
        ("/endpoints/ep/invocations", b"1,2", {"Content-Type": "text/csv"}),  # InvokeEndpoint
        ("/", b"Action=GetCallerIdentity&Version=2011-06-15",
         {"Content-Type": "application/x-www-form-urlencoded"}),            # STS
        ("/", b"{}", {"X-Amz-Target": "SageMaker.ListModels",
                      "Content-Type": "application/x-amz-json-1.1"}),       # SageMaker
        ("/_sagebox/notebook-instances", b"NotebookInstanceName=x", {}),     # the console
    ]
    for origin in ["http://evil.example", "null", "http://localhost:8888"]:
        for path, body, headers in cases:
            r = requests.post(sagebox.url + path, data=body, headers={**headers, "Origin": origin})
            assert r.status_code == 403, (origin, path, r.status_code, r.text)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Fetch metadata without an Origin: a cross-site image or script load is refused too.
    r = requests.get(sagebox.url + "/_sagebox/health",
                     headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"})
    assert r.status_code == 403
    # Its own origin, and a link followed from elsewhere, are served.
    own = sagebox.url
    assert requests.post(sagebox.url + "/", data=b"{}", headers={
        "Origin": own, "X-Amz-Target": "SageMaker.ListModels",
        "Content-Type": "application/x-amz-json-1.1"}).status_code == 200
    assert requests.get(sagebox.url + "/_sagebox/", headers={
        "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}).status_code == 200


# --- Stored XSS: objects open in a sandbox; console pages allow only their own assets ---

def test_html_objects_cannot_script_against_the_console(sagebox, s3):
    bucket = unique("xss")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="page.html", ContentType="text/html",
                  Body=b"<script>fetch('/_sagebox/')</script>")
    r = requests.get(f"{sagebox.url}/{bucket}/page.html")
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Security-Policy"] == "sandbox"
    console = requests.get(sagebox.url + "/_sagebox/")
    csp = console.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert console.headers["X-Frame-Options"] == "DENY"


# --- Slow and idle connections ---

def test_idle_and_stalled_connections_are_closed_and_connections_are_capped(spawn_sagebox):
    server = spawn_sagebox("--idle-timeout", "2", "--max-connections", "4")
    t = time.monotonic()
    assert raw(server, b"") == b""  # never sends a request
    assert raw(server, b"GET /_sagebox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""  # slow headers
    ka = raw(server, b"GET /_sagebox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # then idle
    assert ka.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - t < 9
    # A body that stops arriving: the request fails and the connection goes.
    out = raw(server, b"PUT /_sagebox-stall HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
                      b"x-amz-target: SageMaker.ListModels\r\n\r\n{")
    assert b" 200 " not in out.split(b"\r\n")[0]
    # Four idle connections fill the server; a fifth is served once one of them is closed.
    host, port = server.url.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(4)]
    time.sleep(0.3)
    fifth = socket.create_connection((host, int(port)), timeout=10)
    fifth.sendall(b"GET /_sagebox/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    fifth.settimeout(0.5)
    with pytest.raises(socket.timeout):
        fifth.recv(100)
    idle[0].close()
    fifth.settimeout(10)
    assert fifth.recv(100).startswith(b"HTTP/1.1 200")
    for s in idle[1:] + [fifth]:
        s.close()
    assert "connection limit reached: 4 connections open" in server.log_tail()


# --- The Docker bridge listener answers only sagebox's own containers ---

PROBE = r"""
import json, urllib.request, urllib.error, sys
base = sys.argv[1]
out = {}
for name, req in [
    ("sagemaker", urllib.request.Request(base + "/", data=b"{}", headers={
        "X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"})),
    ("s3", urllib.request.Request(base + "/")),
    ("forged", urllib.request.Request(base + "/", data=b"{}", headers={
        "X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Date": "20260101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=sagebox/20260101/us-east-1/sagemaker/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=00"})),
    ("console", urllib.request.Request(base + "/_sagebox/")),
]:
    try:
        out[name] = urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as e:
        out[name] = e.code
print(json.dumps(out))
"""


@pytest.mark.skipif(not docker_answers(), reason="needs a Docker engine")
def test_a_container_sagebox_did_not_start_cannot_call_it(sagebox):
    image = build_byo_image()
    # The bridge listener opens once Docker answers; its line is near the start of a long log.
    for _ in range(50):
        log = sagebox.log_path.read_text(errors="replace")
        if re.search(r"containers reach sagebox at http://[0-9.]+:\d+", log):
            break
        time.sleep(0.2)
    else:
        pytest.fail("sagebox did not open its Docker bridge listener")
    run = subprocess.run(["docker", "run", "--rm", "--add-host", "host.docker.internal:host-gateway",
                          "--entrypoint", "python3", image, "-c", PROBE,
                          "http://host.docker.internal:" + sagebox.url.rsplit(":", 1)[1]],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    import json
    assert json.loads(run.stdout) == {"sagemaker": 403, "s3": 403, "forged": 400, "console": 403}


# --- Small protocol slips ---

def test_an_aws_chunked_body_must_decode_to_its_declared_length(sagebox, s3):
    bucket = unique("declen")
    s3.create_bucket(Bucket=bucket)
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    for declared in ["7", "20"]:
        r = requests.put(f"{sagebox.url}/{bucket}/k", data=body, headers={
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": declared})
        assert r.status_code == 400 and "<Code>IncompleteBody</Code>" in r.text, (declared, r.text)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    r = requests.put(f"{sagebox.url}/{bucket}/k", data=body, headers={
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "11"})
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"hello world"


def test_a_timestamp_that_is_not_one_fails_to_deserialize(sagebox):
    for bad in ["yesterday", "2026-13-45", ""]:
        r = requests.post(sagebox.url + "/", data=f'{{"CreationTimeAfter": "{bad}"}}', headers={
            "X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"})
        assert r.status_code == 400 and r.json()["__type"] == "SerializationException", (bad, r.text)
    for good in ["2026-01-01T00:00:00Z", "1767225600", "1767225600.5"]:
        r = requests.post(sagebox.url + "/", data=f'{{"CreationTimeAfter": "{good}"}}', headers={
            "X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"})
        assert r.status_code == 200, (good, r.text)


def test_reserved_bucket_names_are_refused(s3):
    from botocore.exceptions import ClientError
    for name in ["data-s3alias", "xn--bucket", "sthree-logs", "mine--ol-s3"]:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert e.value.response["Error"]["Code"] == "InvalidBucketName", name
