"""S3 multipart details that clients read back: checksums of completed uploads (COMPOSITE and
FULL_OBJECT), GetObject and HeadObject by part number, GetObjectAttributes, repeated
completions, conditional completes; plus tags sent as a header, paged bucket listings, request
ids on errors and presigned URL expiry."""

import base64
import hashlib
import time
import zlib

import pytest
import requests
from botocore.exceptions import ClientError

from support import client_error as error_of
from support import unique

MIB = 1024 * 1024


@pytest.fixture
def bucket(s3):
    name = unique("mp").lower()
    s3.create_bucket(Bucket=name)
    return name



def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def upload_parts(s3, bucket, key, bodies, **create):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    alg = create.get("ChecksumAlgorithm")
    parts = []
    for n, body in enumerate(bodies, start=1):
        extra = {"ChecksumAlgorithm": alg} if alg else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=n, Body=body, **extra)
        part = {"PartNumber": n, "ETag": r["ETag"]}
        if alg:
            part[f"Checksum{alg}"] = r[f"Checksum{alg}"]
        parts.append(part)
    return upload, parts


def test_composite_sha256_checksum_of_a_completed_upload(s3, bucket):
    bodies = [b"a" * (5 * MIB), b"b" * 1000]
    upload, parts = upload_parts(s3, bucket, "c", bodies, ChecksumAlgorithm="SHA256")
    assert upload["ChecksumAlgorithm"] == "SHA256"
    raw = b"".join(hashlib.sha256(b).digest() for b in bodies)
    expected = f"{b64(hashlib.sha256(raw).digest())}-2"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ChecksumSHA256"] == expected and done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected and head["ChecksumType"] == "COMPOSITE"
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="c")
    # Part 2 by number: its own bytes, its own checksum.
    got = s3.get_object(Bucket=bucket, Key="c", PartNumber=2, ChecksumMode="ENABLED")
    assert got["Body"].read() == bodies[1] and got["PartsCount"] == 2
    assert got["ChecksumSHA256"] == b64(hashlib.sha256(bodies[1]).digest())
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_full_object_crc32_checksum_and_a_wrong_expected_value(s3, bucket):
    bodies = [b"x" * (5 * MIB), b"y" * 3000]
    upload, parts = upload_parts(s3, bucket, "f", bodies, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    whole = b64(zlib.crc32(b"".join(bodies)).to_bytes(4, "big"))
    complete = dict(Bucket=bucket, Key="f", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    assert error_of(lambda: s3.complete_multipart_upload(ChecksumCRC32="AAAAAA==", **complete)) == ("BadDigest", 400)
    done = s3.complete_multipart_upload(ChecksumCRC32=whole, **complete)
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    # Completing again answers as the first time did.
    again = s3.complete_multipart_upload(**complete)
    assert again["ETag"] == done["ETag"] and again["ChecksumCRC32"] == whole


def test_part_checksums_in_complete_must_match(s3, bucket):
    upload, parts = upload_parts(s3, bucket, "m", [b"only part"], ChecksumAlgorithm="CRC32")
    parts[0]["ChecksumCRC32"] = "AAAAAA=="
    assert error_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})) == ("InvalidPart", 400)
    assert error_of(lambda: s3.create_multipart_upload(
        Bucket=bucket, Key="m", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"))[0] == "InvalidRequest"


def test_get_object_attributes_and_part_numbers(s3, bucket):
    bodies = [b"1" * (5 * MIB), b"2" * (5 * MIB), b"3" * 10]
    upload, parts = upload_parts(s3, bucket, "p", bodies)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="p", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
    attrs = s3.get_object_attributes(Bucket=bucket, Key="p", MaxParts=1, PartNumberMarker=1,
                                     ObjectAttributes=["ETag", "ObjectSize", "ObjectParts", "StorageClass"])
    assert attrs["ETag"] == done["ETag"].strip('"')
    assert attrs["ObjectSize"] == sum(map(len, bodies)) and attrs["StorageClass"] == "STANDARD"
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] and op["NextPartNumberMarker"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(2, 5 * MIB)]
    head = s3.head_object(Bucket=bucket, Key="p", PartNumber=3)
    assert head["ContentLength"] == 10 and head["PartsCount"] == 3
    assert error_of(lambda: s3.get_object(Bucket=bucket, Key="p", PartNumber=4)) == ("InvalidPart", 400)
    s3.put_object(Bucket=bucket, Key="single", Body=b"whole")
    assert s3.get_object(Bucket=bucket, Key="single", PartNumber=1)["Body"].read() == b"whole"
    small = s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert small["ObjectSize"] == 5 and "ObjectParts" not in small


def test_conditional_complete_and_put(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    assert error_of(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"v2", IfNoneMatch="*")) == (
        "PreconditionFailed", 412)
    upload, parts = upload_parts(s3, bucket, "k", [b"v3"])
    complete = dict(Bucket=bucket, Key="k", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    assert error_of(lambda: s3.complete_multipart_upload(IfMatch='"0000"', **complete)) == ("PreconditionFailed", 412)
    s3.complete_multipart_upload(IfMatch=etag, **complete)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v3"


def test_tags_as_a_header_are_validated_and_sorted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="z=1&a=2")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [
        {"Key": "a", "Value": "2"}, {"Key": "z", "Value": "1"}]
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    too_long = [{"Key": "k" * 129, "Value": "v"}]
    assert error_of(lambda: s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": too_long})) == (
        "InvalidTag", 400)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mt", Tagging="team=ml")
    r = s3.upload_part(Bucket=bucket, Key="mt", UploadId=upload["UploadId"], PartNumber=1, Body=b"p")
    s3.complete_multipart_upload(Bucket=bucket, Key="mt", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="mt")["TagSet"] == [{"Key": "team", "Value": "ml"}]


def test_list_buckets_pages_and_errors_carry_the_request_id(s3):
    prefix = unique("pg").lower()
    names = [f"{prefix}-{i}" for i in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    first = s3.list_buckets(MaxBuckets=2, Prefix=prefix)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    rest = s3.list_buckets(MaxBuckets=2, Prefix=prefix, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:] and "ContinuationToken" not in rest
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=names[0], Key="missing")
    request_id = e.value.response["ResponseMetadata"]["RequestId"]
    assert request_id and e.value.response["Error"]["Code"] == "NoSuchKey"
    for n in names:
        s3.delete_bucket(Bucket=n)


def test_presigned_urls_expire(sagebox, client_factory, s3, bucket):
    s3.put_object(Bucket=bucket, Key="e", Body=b"soon gone")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=1)
    assert requests.get(url).status_code == 200
    time.sleep(2.1)
    r = requests.get(url)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    # SigV4 URLs may live a week at most (SigV2 ones, boto3's default above, have no such limit).
    v4 = client_factory("s3", sagebox.url, signature_version="s3v4")
    params = {"Bucket": bucket, "Key": "e"}
    assert requests.get(v4.generate_presigned_url("get_object", Params=params, ExpiresIn=60)).status_code == 200
    week = v4.generate_presigned_url("get_object", Params=params, ExpiresIn=604801)
    assert requests.get(week).status_code == 403
