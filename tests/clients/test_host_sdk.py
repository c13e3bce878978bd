"""The SageMaker SDK on the host, with unchanged user code: `eval "$(sagebox env)"` then the SDK's
own `get_execution_role()` and `Session().default_bucket()`. The first asks STS at the fixed host
`sts.<region>.amazonaws.com` (ignoring AWS_ENDPOINT_URL), which `--aws-proxy` answers locally; the
second reads the bucket from the SDK defaults file `sagebox env` writes.

Also: what the proxy does with other hosts (a plain tunnel), with plain HTTP (refused), the CA its
leaf certificates chain to (kept across restarts), and S3 virtual hosts through it."""

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading

import boto3
import botocore.config
import pytest
import requests

from support import free_port, sagebox_binary, unique

REGION = "eu-west-1"
ACCOUNT = "123456789012"
SERVER_ARGS = ("--region", REGION, "--account-id", ACCOUNT)

SDK_SCRIPT = """
import json, sagemaker
role = sagemaker.get_execution_role()
bucket = sagemaker.Session().default_bucket()
print(json.dumps({"role": role, "bucket": bucket}))
"""


@pytest.fixture(autouse=True)
def no_exported_endpoint(sagebox, monkeypatch):
    """The clients made in this process stand for a user's own code aimed at AWS's hosts: the
    variables the session's `sagebox` fixture exports would send them to that server instead."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "SAGEMAKER_USER_CONFIG_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)


def host_env(**extra):
    """The environment of a fresh shell on the host: no AWS settings, no proxy, no AWS config files
    (so nothing but what `sagebox env` exports points the clients anywhere)."""
    drop = {"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "SAGEMAKER_USER_CONFIG_OVERRIDE",
            "SAGEMAKER_ADMIN_CONFIG_OVERRIDE"}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.upper() not in drop}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", SAGEMAKER_SUPPRESS_V2_WARNING="1", **extra)
    return env


def sagebox_env(server, *extra):
    """`sagebox env` for `server` (same port, data dir, region and account), as a shell would run it."""
    proc = subprocess.run(
        [str(sagebox_binary()), "env", "--bind", f"127.0.0.1:{server.port}",
         "--data-dir", str(server.data_dir), *SERVER_ARGS, *extra],
        capture_output=True, text=True, timeout=60, env=host_env(), stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def run_python(exports, script, **extra_env):
    """`eval "$(sagebox env)"` in bash, then the venv's Python running `script` unchanged."""
    return subprocess.run(
        ["bash", "-c", 'eval "$EXPORTS" && exec "$PYTHON" -c "$SCRIPT"'],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env=host_env(EXPORTS=exports, PYTHON=sys.executable, SCRIPT=script, **extra_env),
    )


def log_mark(server):
    return len(server.log_tail(10**9))


def connects_since(server, mark):
    """The set of (verdict, host, port) the proxy logged after `mark` (verdict: answered/tunnelled)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", server.log_tail(10**9)[mark:])
    found = re.findall(
        r"aws-proxy CONNECT (answered by sagebox|tunnelled) target_host=(\S+) port=(\d+)", text)
    return {("answered" if v.startswith("answered") else "tunnelled", h, int(p)) for v, h, p in found}


def open_tunnel(proxy_port, target):
    """A socket through the proxy to `target` (HOST:PORT), after its `200` answer to CONNECT."""
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=30)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"proxy closed the connection after {head!r}"
        head += chunk
    status, _, rest = head.partition(b"\r\n\r\n")
    return sock, status.decode(), rest


@pytest.fixture
def proxied(spawn_sagebox):
    """A private sagebox in eu-west-1 / 123456789012 with the AWS proxy on a port of its own."""
    port = free_port()
    server = spawn_sagebox(*SERVER_ARGS, "--aws-proxy", f"127.0.0.1:{port}")
    server.proxy_port = port
    return server


def test_sdk_finds_the_role_and_the_bucket_through_the_proxy(proxied, client_factory):
    exports = sagebox_env(proxied, "--aws-proxy", f"127.0.0.1:{proxied.proxy_port}")
    data = proxied.data_dir.resolve()
    proxy = f"http://127.0.0.1:{proxied.proxy_port}"
    assert exports.splitlines() == [
        f"export AWS_ENDPOINT_URL={proxied.url}",
        f"export AWS_DEFAULT_REGION={REGION}",
        f"export AWS_REGION={REGION}",
        "export AWS_ACCESS_KEY_ID=sagebox",
        "export AWS_SECRET_ACCESS_KEY=sagebox",
        f"export SAGEMAKER_USER_CONFIG_OVERRIDE={data}/sdk-config.yaml",
        f"export HTTPS_PROXY={proxy}",
        f"export https_proxy={proxy}",
        "export NO_PROXY=127.0.0.1,localhost,::1",
        "export no_proxy=127.0.0.1,localhost,::1",
        f"export AWS_CA_BUNDLE={data}/aws-proxy/ca-bundle.pem",
    ]
    mark = log_mark(proxied)
    proc = run_python(exports, SDK_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"role": f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole",
                   "bucket": f"sagemaker-{REGION}-{ACCOUNT}"}
    # STS was asked at the SDK's fixed host, through the proxy; nothing else went that way
    # (IAM, S3 and SageMaker honour AWS_ENDPOINT_URL).
    assert connects_since(proxied, mark) == {("answered", f"sts.{REGION}.amazonaws.com", 443)}
    # default_bucket() created the bucket in sagebox.
    s3 = client_factory("s3", proxied.url, region_name=REGION)
    s3.head_bucket(Bucket=f"sagemaker-{REGION}-{ACCOUNT}")


def test_without_the_proxy_the_bucket_comes_from_the_sdk_file(spawn_sagebox):
    """No proxy: default_bucket() needs no STS call any more; get_execution_role() still does, and
    with AWS out of reach (a proxy address nothing listens on stands in for an offline laptop) it
    fails at the fixed STS host."""
    server = spawn_sagebox(*SERVER_ARGS)
    exports = sagebox_env(server)
    assert "HTTPS_PROXY" not in exports and "AWS_CA_BUNDLE" not in exports, exports
    assert f"export SAGEMAKER_USER_CONFIG_OVERRIDE={server.data_dir.resolve()}/sdk-config.yaml" \
        in exports.splitlines()
    offline = f"http://127.0.0.1:{free_port()}"
    script = """
import json, logging, boto3, sagemaker
boto3.set_stream_logger("botocore.endpoint", logging.DEBUG)  # each request's URL, on stderr
bucket = sagemaker.Session().default_bucket()
try:
    sagemaker.get_execution_role()
    role_error = None
except Exception as e:
    role_error = f"{type(e).__name__}: {e}"
print(json.dumps({"bucket": bucket, "role_error": role_error}))
"""
    proc = run_python(exports, script, HTTPS_PROXY=offline)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bucket"] == f"sagemaker-{REGION}-{ACCOUNT}"
    assert out["role_error"] is not None
    assert out["role_error"] == f'ProxyConnectionError: Failed to connect to proxy URL: "{offline}"'
    urls = set(re.findall(r"'url': '([^']+)'", proc.stderr))
    https = {u for u in urls if u.startswith("https://")}
    assert https == {f"https://sts.{REGION}.amazonaws.com/"}, urls


def test_connect_to_any_other_host_is_a_plain_tunnel(proxied):
    received = bytearray()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    payload = b"GET / HTTP/1.1\r\nHost: not-parsed\r\n\r\n" + bytes(range(256)) * 4

    def echo():
        conn, _ = listener.accept()
        with conn:
            while len(received) < len(payload):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received.extend(chunk)
                conn.sendall(chunk)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    mark = log_mark(proxied)
    sock, status, early = open_tunnel(proxied.proxy_port, f"127.0.0.1:{port}")
    with sock:
        assert status.startswith("HTTP/1.1 200"), status
        assert early == b""
        sock.sendall(payload)
        back = b""
        while len(back) < len(payload):
            chunk = sock.recv(65536)
            assert chunk, f"tunnel closed after {len(back)} bytes"
            back += chunk
    thread.join(10)
    listener.close()
    assert bytes(received) == payload
    assert back == payload
    assert connects_since(proxied, mark) == {("tunnelled", "127.0.0.1", port)}

    # A host that does not answer is the proxy's 502, before any tunnel exists.
    closed = free_port()
    sock, status, _ = open_tunnel(proxied.proxy_port, f"127.0.0.1:{closed}")
    sock.close()
    assert status.startswith("HTTP/1.1 502"), status


def test_plain_http_through_the_proxy_is_refused(proxied):
    proxy = f"http://127.0.0.1:{proxied.proxy_port}"
    for resp in (requests.get(proxy + "/", timeout=10),
                 requests.get("http://sts.amazonaws.com/?Action=GetCallerIdentity",
                              proxies={"http": proxy}, timeout=10)):
        assert resp.status_code == 405
        assert resp.headers["Allow"] == "CONNECT"
        assert "CONNECT (HTTPS) only" in resp.text


def handshake(proxy_port, host, cafile):
    """TLS through the proxy to `host`, trusting only `cafile`, strict X.509 checks on."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    sock, status, _ = open_tunnel(proxy_port, f"{host}:443")
    assert status.startswith("HTTP/1.1 200"), status
    with ctx.wrap_socket(sock, server_hostname=host) as tls:
        return tls.getpeercert()


def test_leaf_certificates_chain_to_the_ca_which_survives_a_restart(proxied, client_factory):
    ca_dir = proxied.data_dir / "aws-proxy"
    ca_pem = (ca_dir / "ca.pem").read_bytes()
    key_pem = (ca_dir / "ca-key.pem").read_bytes()
    assert (ca_dir / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    host = f"sts.{REGION}.amazonaws.com"
    cert = handshake(proxied.proxy_port, host, ca_dir / "ca.pem")
    assert cert["subjectAltName"] == (("DNS", host),)
    assert dict(x[0] for x in cert["issuer"]) == {
        "organizationName": "sagebox", "commonName": "sagebox local AWS proxy CA"}

    # A real client, no endpoint URL at all: the proxy and the CA are all it is given.
    sts = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s").client(
        "sts", region_name=REGION, verify=str(ca_dir / "ca.pem"),
        config=botocore.config.Config(proxies={"https": f"http://127.0.0.1:{proxied.proxy_port}"},
                                      retries={"total_max_attempts": 1}))
    assert sts.get_caller_identity()["Account"] == ACCOUNT

    proxied.restart()
    assert (ca_dir / "ca.pem").read_bytes() == ca_pem
    assert (ca_dir / "ca-key.pem").read_bytes() == key_pem
    again = handshake(proxied.proxy_port, "iam.amazonaws.com", ca_dir / "ca.pem")
    assert again["subjectAltName"] == (("DNS", "iam.amazonaws.com"),)


def test_s3_virtual_hosts_through_the_proxy(proxied, client_factory):
    bucket = unique("vhost")
    bundle = proxied.data_dir / "aws-proxy" / "ca-bundle.pem"
    sagebox_env(proxied, "--aws-proxy", f"127.0.0.1:{proxied.proxy_port}")  # writes the bundle
    s3 = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s").client(
        "s3", region_name="us-east-1", verify=str(bundle),
        config=botocore.config.Config(proxies={"https": f"http://127.0.0.1:{proxied.proxy_port}"},
                                      s3={"addressing_style": "virtual"},
                                      retries={"total_max_attempts": 1}))
    mark = log_mark(proxied)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"through the proxy")
    assert s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"through the proxy"
    assert {h for _, h, _ in connects_since(proxied, mark)} == {f"{bucket}.s3.amazonaws.com"}
    # The same object, path style at sagebox's own endpoint.
    direct = client_factory("s3", proxied.url, region_name="us-east-1")
    assert direct.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"through the proxy"


def test_strict_auth_checks_signatures_made_for_the_aws_host(spawn_sagebox):
    """Requests through the proxy keep the Host they were signed for, so `--auth strict` verifies
    them: the right key works, a wrong secret gets STS's own error."""
    port = free_port()
    server = spawn_sagebox(*SERVER_ARGS, "--aws-proxy", f"127.0.0.1:{port}",
                           "--auth", "strict", "--credentials", "sagebox:sagebox")
    exports = sagebox_env(server, "--aws-proxy", f"127.0.0.1:{port}")
    proc = run_python(exports, SDK_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["role"] == \
        f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
    script = """
import json, sagemaker
from botocore.exceptions import ClientError
try:
    print(json.dumps(sagemaker.get_execution_role()))
except ClientError as e:
    print(json.dumps([e.operation_name, e.response["Error"]["Code"]]))
"""
    proc = run_python(exports + "export AWS_SECRET_ACCESS_KEY=wrong\n", script)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == \
        ["GetCallerIdentity", "SignatureDoesNotMatch"]
