"""`--auth strict`: every request must carry a valid AWS Signature Version 4 made with a configured
key. Real clients (boto3, the AWS CLI, presigned URLs over plain HTTP) pass with the right secret and
get AWS's own errors with a wrong one, an unknown key, no signature, or an expired URL."""

import subprocess
import time

import boto3
import botocore.config
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import run_cli
from support import REGION, clean_aws_env, sagebox_binary, unique

KEY, SECRET = "AKIDSAGEBOXTEST", "s3cr3t/with+chars"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    from support import Sagebox

    d = tmp_path_factory.mktemp("strict")
    server = Sagebox(d / "data", d / "sagebox.log", ["--auth", "strict", "--credentials", f"{KEY}:{SECRET}"])
    server.start()
    yield server
    server.kill()
    server.remove_containers()


def client(server, service, key=KEY, secret=SECRET):
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name=REGION).client(
        service, endpoint_url=server.url,
        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def error(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_the_right_key_works_everywhere(strict, tmp_path):
    sm = client(strict, "sagemaker")
    assert sm.list_models()["Models"] == []
    assert client(strict, "sts").get_caller_identity()["Account"] == "000000000000"
    client(strict, "logs").describe_log_groups()
    s3 = client(strict, "s3")
    bucket = unique("strict")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a b/ключ.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="a b/ключ.txt")["Body"].read() == b"hello"
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (9 * 1024 * 1024))
    s3.upload_file(str(big), bucket, "big.bin")  # multipart, aws-chunked with checksum trailers
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == 9 * 1024 * 1024
    # the runtime API checks the signature first, then answers for the (unknown) endpoint
    assert error(lambda: client(strict, "sagemaker-runtime").invoke_endpoint(
        EndpointName="none", Body=b"{}")) == ("ValidationError", 400)


def test_a_wrong_secret_or_an_unknown_key_gets_aws_errors(strict):
    assert error(lambda: client(strict, "sagemaker", secret="wrong").list_models()) == \
        ("InvalidSignatureException", 400)
    assert error(lambda: client(strict, "sagemaker", key="AKIDUNKNOWN").list_models()) == \
        ("UnrecognizedClientException", 400)
    assert error(lambda: client(strict, "sts", secret="wrong").get_caller_identity()) == \
        ("SignatureDoesNotMatch", 403)
    assert error(lambda: client(strict, "sts", key="AKIDUNKNOWN").get_caller_identity()) == \
        ("InvalidClientTokenId", 403)
    assert error(lambda: client(strict, "s3", secret="wrong").list_buckets()) == \
        ("SignatureDoesNotMatch", 403)
    assert error(lambda: client(strict, "s3", key="AKIDUNKNOWN").list_buckets()) == \
        ("InvalidAccessKeyId", 403)
    assert error(lambda: client(strict, "sagemaker-runtime", secret="wrong").invoke_endpoint(
        EndpointName="none", Body=b"{}")) == ("InvalidSignatureException", 400)


def test_unsigned_requests_are_refused(strict):
    r = requests.post(strict.url + "/", data="{}", headers={
        "X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 403 and r.json()["__type"] == "MissingAuthenticationTokenException"
    r = requests.get(strict.url + "/")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text


def test_the_console_needs_a_sign_in_under_strict_auth(strict):
    # it asks for a configured key pair first, so it is no way around the signatures
    # (tests/console/test_console_login.py signs in with a browser)
    for path in ("/_sagebox/", "/_sagebox/s3", "/_sagebox/models"):
        r = requests.get(strict.url + path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"].startswith("/_sagebox/login"), path
    r = requests.get(strict.url + "/_sagebox/login")
    assert r.status_code == 200 and "--auth strict" in r.text
    r = requests.post(strict.url + "/_sagebox/notebook-instances",
                      data={"NotebookInstanceName": "x", "InstanceType": "ml.t3.medium", "RoleArn": "r"})
    assert r.status_code == 403
    assert requests.get(strict.url + "/_sagebox/health").status_code == 200


def test_presigned_urls_work_until_they_expire(strict):
    s3 = client(strict, "s3")
    bucket = unique("presign")
    s3.create_bucket(Bucket=bucket)
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert requests.put(put, data=b"via presigned PUT").status_code == 200
    get = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    assert requests.get(get).content == b"via presigned PUT"
    tampered = get.replace("/k?", "/other?")
    r = requests.get(tampered)
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1)
    time.sleep(2)
    r = requests.get(short)
    assert r.status_code == 403 and "Request has expired" in r.text


def test_the_aws_cli_with_the_configured_key(strict):
    env = clean_aws_env()
    env.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    assert run_cli(strict.url, "sagemaker", "list-models", env=env).json == {"Models": []}
    env.update(AWS_SECRET_ACCESS_KEY="wrong")
    bad = run_cli(strict.url, "sagemaker", "list-models", env=env, check=False)
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr


def test_strict_without_credentials_does_not_start(tmp_path):
    proc = subprocess.run([str(sagebox_binary()), "serve", "--bind", "127.0.0.1:0", "--data-dir",
                           str(tmp_path / "d"), "--auth", "strict"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "--auth strict needs at least one --credentials KEY:SECRET" in proc.stderr


# --- What a signature binds: the body, the time, the host (issue: a replayed PutObject with a
# changed body and a 400-day-old date overwrote the object). Requests are signed by botocore's own
# SigV4 signers, then sent (or replayed) as captured.

import datetime
import hashlib
import hmac
from unittest import mock

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials(KEY, SECRET)


def signed(method, url, body=b"", headers=None, service="s3", at=None, signer=None):
    """A request signed by botocore (at a chosen time, as a captured request would have been)."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    auth = (signer or (S3SigV4Auth if service == "s3" else SigV4Auth))(CREDS, service, REGION)
    if at is None:
        auth.add_auth(req)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            auth.add_auth(req)
    return dict(req.headers.items())


def test_a_replayed_put_with_another_body_is_refused_and_stores_nothing(strict):
    s3 = client(strict, "s3")
    bucket = unique("replay")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    url = f"{strict.url}/{bucket}/k"
    headers = signed("PUT", url, b"original")
    assert requests.put(url, data=b"original", headers=headers).status_code == 200
    r = requests.put(url, data=b"tampered", headers=headers)
    assert r.status_code == 400 and "<Code>XAmzContentSHA256Mismatch</Code>" in r.text, r.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"original"
    # A body too large to check before the operation starts is checked as it streams.
    big = b"b" * (3 << 20)
    headers = signed("PUT", f"{strict.url}/{bucket}/big", big)
    r = requests.put(f"{strict.url}/{bucket}/big", data=b"c" * (3 << 20), headers=headers)
    assert r.status_code == 400 and "XAmzContentSHA256Mismatch" in r.text, r.text
    assert "big" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_old_and_future_signatures_are_refused_with_aws_wording(strict):
    s3 = client(strict, "s3")
    bucket = unique("skew")
    s3.create_bucket(Bucket=bucket)
    url = f"{strict.url}/{bucket}/k"
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=400)
    r = requests.put(url, data=b"x", headers=signed("PUT", url, b"x", at=old))
    assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text, r.text
    assert "The difference between the request time and the current time is too large." in r.text
    # Inside S3's 15 minutes: accepted.
    recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    assert requests.put(url, data=b"x", headers=signed("PUT", url, b"x", at=recent)).status_code == 200
    body = b"{}"
    json_headers = {"X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"}
    for when, words in [(old, "Signature expired: "), (old + datetime.timedelta(days=800),
                                                          "Signature not yet current: ")]:
        h = signed("POST", strict.url + "/", body, json_headers, service="sagemaker", at=when)
        r = requests.post(strict.url + "/", data=body, headers=h)
        assert r.status_code == 400 and r.json()["__type"] == "InvalidSignatureException", r.text
        assert r.json()["message"].startswith(words) and r.json()["message"].endswith(" - 5 min.)"
                                                                                     if "expired" in words
                                                                                     else " + 5 min.)")


def test_a_changed_body_under_a_signed_content_hash_is_refused_on_sagemaker_and_logs(strict):
    for target, body, changed in [
        ("SageMaker.ListModels", b'{"MaxResults": 5}', b'{"MaxResults": 6}'),
        ("Logs_20140328.DescribeLogGroups", b'{"limit": 5}', b'{"limit": 6}'),
    ]:
        service = "sagemaker" if target.startswith("SageMaker") else "logs"
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
        h = signed("POST", strict.url + "/", body, headers, service=service)
        assert requests.post(strict.url + "/", data=body, headers=h).status_code == 200
        r = requests.post(strict.url + "/", data=changed, headers=h)
        assert r.status_code == 400 and r.json()["__type"] == "InvalidSignatureException", r.text


def test_host_must_be_signed(strict):
    url = strict.url + "/"
    body = b"{}"
    h = signed("POST", url, body, {"X-Amz-Target": "SageMaker.ListModels",
                                   "Content-Type": "application/x-amz-json-1.1"}, service="sagemaker")
    auth = h["Authorization"].replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")
    assert auth != h["Authorization"]
    r = requests.post(url, data=body, headers={**h, "Authorization": auth})
    assert r.status_code == 400 and "'Host' or ':authority' must be a 'SignedHeader'" in r.text, r.text


def test_a_presigned_url_dated_in_the_future_is_not_yet_valid(strict):
    s3 = client(strict, "s3")
    bucket = unique("future")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2)
    s3v4 = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                                 region_name=REGION).client(
        "s3", endpoint_url=strict.url, config=botocore.config.Config(signature_version="s3v4"))
    with mock.patch("botocore.auth.get_current_datetime", return_value=later):
        url = s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                        ExpiresIn=60)
    r = requests.get(url)
    assert r.status_code == 403 and "<Message>Request is not yet valid</Message>" in r.text, r.text


def _chunked(data_chunks, seed, signing_key, amz_date, scope, tamper=None):
    """An aws-chunked body with each chunk signed in the chain SigV4 defines."""
    prev, out = seed, b""
    empty = hashlib.sha256(b"").hexdigest()
    for i, data in enumerate(list(data_chunks) + [b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty,
                             hashlib.sha256(data).hexdigest()])
        prev = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = tamper(i, data) if tamper else data
        out += f"{len(sent):x};chunk-signature={prev}\r\n".encode() + sent + b"\r\n"
    return out


class StreamingSigner(S3SigV4Auth):
    """botocore's S3 signer for a body signed chunk by chunk (the seed request's payload is the
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD constant, as SDKs that stream-sign send)."""

    def payload(self, request):
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def _chunked_put(server, url, chunks, tamper=None, declared=None):
    decoded = sum(len(c) for c in chunks)
    headers = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
               "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(declared if declared is not None else decoded)}
    h = signed("PUT", url, b"", headers, signer=StreamingSigner)
    seed = h["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = h["X-Amz-Date"]
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    key = ("AWS4" + SECRET).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    body = _chunked(chunks, seed, key, amz_date, scope, tamper)
    return requests.put(url, data=body, headers=h)


def test_aws_chunked_uploads_are_checked_chunk_by_chunk(strict):
    s3 = client(strict, "s3")
    bucket = unique("chunks")
    s3.create_bucket(Bucket=bucket)
    chunks = [b"a" * 65536, b"b" * 1024]
    url = f"{strict.url}/{bucket}/good"
    r = _chunked_put(strict, url, chunks)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == b"".join(chunks)
    changed = _chunked_put(strict, f"{strict.url}/{bucket}/bad", chunks,
                           tamper=lambda i, d: d.replace(b"b", b"c") if i == 1 else d)
    assert changed.status_code == 403 and "SignatureDoesNotMatch" in changed.text, changed.text
    dropped = _chunked_put(strict, f"{strict.url}/{bucket}/bad", chunks,
                           tamper=lambda i, d: b"" if i == 1 else d)
    assert dropped.status_code in (400, 403), dropped.text
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["good"]


def test_health_tells_an_unsigned_caller_only_that_sagebox_is_alive(strict):
    r = requests.get(strict.url + "/_sagebox/health")
    assert r.status_code == 200 and r.json() == {"service": "sagebox", "status": "ok"}
    h = signed("GET", strict.url + "/_sagebox/health", b"", service="sagebox")
    full = requests.get(strict.url + "/_sagebox/health", headers=h).json()
    assert full["subsystems"]["store"]["status"] == "ok" and "data_dir" in full
