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


def test_the_console_is_off_under_strict_auth(strict):
    # it has no login of its own, so it must not be a way around the signatures
    for path in ("/_sagebox/", "/_sagebox/s3", "/_sagebox/models"):
        r = requests.get(strict.url + path)
        assert r.status_code == 403 and "--auth strict" in r.text
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
