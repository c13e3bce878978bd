"""S3 on sagebox's port, driven by boto3, plain HTTP (presigned URLs) and the AWS CLI."""

import hashlib
import os
import signal
import time
import urllib.request

import pytest
import requests
from boto3.s3.transfer import TransferConfig

from support import client_error as error_of
from support import unique


@pytest.fixture
def bucket(s3):
    name = unique("bkt").lower()
    s3.create_bucket(Bucket=name)
    return name



def test_put_then_get_keeps_bytes_metadata_and_checksum(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello", ContentType="text/plain",
                  Metadata={"owner": "ml"}, CacheControl="no-cache")
    got = s3.get_object(Bucket=bucket, Key="a/b.txt", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "ml"}
    assert got["CacheControl"] == "no-cache"
    assert got["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest()
    # boto3 sends a CRC32 by default; S3 hands it back when asked.
    assert got["ChecksumCRC32"] == "NhCmhg=="


def test_range_reads_return_the_slice_and_content_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=2-5")
    assert got["Body"].read() == b"2345"
    assert got["ContentRange"] == "bytes 2-5/10"
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="r", Range="bytes=20-30")) == ("InvalidRange", 416)


def test_conditional_get_honours_etags(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"x")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"x"
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch='"nope"')) == ("PreconditionFailed", 412)
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag))[1] == 304


def test_list_v2_with_delimiter_and_pagination(s3, bucket):
    for k in ["a/1", "a/2", "b/1", "c", "d"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in r["Contents"]] == ["c", "d"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a/", "b/"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
            for o in page.get("Contents", [])]
    assert keys == ["a/1", "a/2", "b/1", "c", "d"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", StartAfter="a/1")
    assert [c["Key"] for c in r["Contents"]] == ["a/2"]
    r = s3.list_objects(Bucket=bucket, Marker="b/1")
    assert [c["Key"] for c in r["Contents"]] == ["c", "d"]


def test_keys_that_look_like_paths_stay_keys(s3, bucket):
    keys = ["../escape", "/leading", "a", "a/b", "dots/./x", "long/" + "k" * 900, "sp ace+plus%"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)


def test_multipart_upload_and_download_round_trip(s3, bucket, tmp_path):
    data = os.urandom(12 * 1024 * 1024)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), bucket, "big", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    s3.download_file(bucket, "big", str(dst), Config=cfg)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_multipart_etag_is_md5_of_part_md5s(s3, bucket):
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [up]
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=i + 1, Body=p)["ETag"]
             for i, p in enumerate(parts)]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]] == [1, 2]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
    assert done["ETag"].strip('"') == expected
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


def test_multipart_errors(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="e", UploadId=up, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="e", UploadId=up, PartNumber=2, Body=b"small")["ETag"]
    complete = lambda parts: s3.complete_multipart_upload(  # noqa: E731
        Bucket=bucket, Key="e", UploadId=up, MultipartUpload={"Parts": parts})
    assert error_of(lambda: complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}])) == ("EntityTooSmall", 400)
    assert error_of(lambda: complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}])) == ("InvalidPartOrder", 400)
    assert error_of(lambda: complete([{"PartNumber": 3, "ETag": e1}])) == ("InvalidPart", 400)
    s3.abort_multipart_upload(Bucket=bucket, Key="e", UploadId=up)
    assert error_of(lambda: s3.list_parts(Bucket=bucket, Key="e", UploadId=up)) == ("NoSuchUpload", 404)


def test_copy_keeps_or_replaces_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.head_object(Bucket=bucket, Key="kept")["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="replaced")["Metadata"] == {"b": "2"}
    assert s3.get_object(Bucket=bucket, Key="replaced")["Body"].read() == b"data"
    # Overwriting the source leaves the copies alone (blobs are never changed in place).
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"data"


def test_presigned_get_and_put_work_over_plain_http(s3, bucket):
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"})
    assert requests.put(put_url, data=b"via presigned put").status_code == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    assert urllib.request.urlopen(get_url).read() == b"via presigned put"


def test_virtual_host_addressing(sagebox, s3, bucket):
    s3.put_object(Bucket=bucket, Key="vh", Body=b"virtual")
    port = sagebox.url.rsplit(":", 1)[1]
    r = requests.get(f"{sagebox.url}/vh", headers={"Host": f"{bucket}.localhost:{port}"})
    assert r.status_code == 200 and r.content == b"virtual"


def test_tagging_objects(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


def test_delete_objects_and_bucket_lifecycle_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    assert error_of(lambda: s3.delete_bucket(Bucket=bucket)) == ("BucketNotEmpty", 409)
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "never-existed"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["never-existed", "x"]
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="x")) == ("NoSuchKey", 404)
    # us-east-1's legacy rule: re-creating a bucket you own there succeeds; elsewhere it is an error.
    s3.create_bucket(Bucket=bucket)
    west = unique("west").lower()
    where = {"LocationConstraint": "eu-west-1"}
    s3.create_bucket(Bucket=west, CreateBucketConfiguration=where)
    assert error_of(lambda: s3.create_bucket(Bucket=west, CreateBucketConfiguration=where)) == (
        "BucketAlreadyOwnedByYou", 409)
    s3.delete_bucket(Bucket=west)
    s3.delete_bucket(Bucket=bucket)
    assert error_of(lambda: s3.head_bucket(Bucket=bucket))[1] == 404
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x")) == ("NoSuchBucket", 404)
    assert error_of(lambda: s3.create_bucket(Bucket="Not_Valid")) == ("InvalidBucketName", 400)


def test_cli_sync_ls_cp_rm(aws, s3, bucket, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "sub" / "b c.txt").write_text("two words")
    aws("s3", "sync", str(tmp_path), f"s3://{bucket}/pre/")
    listed = aws("s3", "ls", "--recursive", f"s3://{bucket}").stdout
    assert "pre/a.txt" in listed and "pre/sub/b c.txt" in listed
    out = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/pre/sub/b c.txt", str(out))
    assert out.read_text() == "two words"
    head = aws("s3api", "head-object", "--bucket", bucket, "--key", "pre/a.txt").json
    assert head["ContentLength"] == 3
    aws("s3", "rm", "--recursive", f"s3://{bucket}/pre")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_acknowledged_puts_survive_kill_9(spawn_sagebox, client_factory):
    """Concurrent PUTs, SIGKILL mid-way, restart: every acknowledged object reads back exactly."""
    from concurrent.futures import ThreadPoolExecutor

    server = spawn_sagebox()
    s3 = client_factory("s3", server.url, max_pool_connections=8)
    s3.create_bucket(Bucket="crash")
    acked = {}

    def put(i):
        body = os.urandom(64 * 1024 + i)
        try:
            s3.put_object(Bucket="crash", Key=f"obj-{i}", Body=body)
        except Exception:  # the server died under this request
            return
        acked[f"obj-{i}"] = hashlib.sha256(body).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(put, i) for i in range(400)]
        deadline = time.monotonic() + 60
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(acked) >= 60, "the PUTs did not get going"
        server.proc.send_signal(signal.SIGKILL)
        for f in futures:
            f.result()
    server.proc.wait()
    server.start()
    s3 = client_factory("s3", server.url)
    listed = {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash")
              for o in page.get("Contents", [])}
    assert set(acked) <= set(listed)
    for key, size in listed.items():
        body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
        assert len(body) == size  # no partial object is listed
        if key in acked:
            assert hashlib.sha256(body).hexdigest() == acked[key]


def test_bucket_tagging(s3, bucket):
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "ml"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "ci"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "ci"}]
    s3.delete_bucket_tagging(Bucket=bucket)
    assert error_of(lambda: s3.get_bucket_tagging(Bucket=bucket)) == ("NoSuchTagSet", 404)


def test_upload_part_copy_assembles_ranges_of_other_objects(s3, bucket):
    big = os.urandom(6 * 1024 * 1024)
    s3.put_object(Bucket=bucket, Key="source", Body=big)
    up = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "source"},
                                CopySourceRange=f"bytes=0-{5 * 1024 * 1024 - 1}")["CopyPartResult"]["ETag"]
    second = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=up, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "source"},
                                 CopySourceRange="bytes=100-199")["CopyPartResult"]["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    body = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert body == big[: 5 * 1024 * 1024] + big[100:200]
