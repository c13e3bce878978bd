"""Multipart uploads whose parts are written in place (into one shared file per upload, at their
place in the object) and the cases that fall back to a copy: the object always reads back as
the parts the completion named, whatever order the parts came in, whichever were uploaded twice,
left out, or stored before a restart; and no file is left behind."""

import hashlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

MIB = 1024 * 1024


@pytest.fixture
def server(spawn_sagebox):
    server = spawn_sagebox()
    server.own_blobs = {}
    server.own_blobs = blob_stats(server)
    return server


@pytest.fixture
def s3(server, client_factory):
    s3 = client_factory("s3", server.url, max_pool_connections=8)
    s3.create_bucket(Bucket="inplace")
    return s3


def blob_stats(server) -> dict:
    """Inode -> size of the object files on disk (not temp files) beyond those the server held
    before the test began."""
    root = server.data_dir / "objects" / "blobs"
    stats = {s.st_ino: s.st_size for s in (p.stat() for p in root.rglob("*") if p.is_file())}
    return {ino: size for ino, size in stats.items() if ino not in server.own_blobs}


def blob_files(server, want: list[int] | None = None) -> list[int]:
    """The sizes of the blob files on disk; with `want`, once they are that (deletions run off
    the request path, and a deleted small blob's file may wait a moment to be written again as
    another blob, so they settle within seconds)."""
    deadline = time.monotonic() + 10
    while True:
        got = sorted(blob_stats(server).values())
        if want is None or got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def put_parts(s3, key, bodies, numbers=None, upload_id=None, parallel=4):
    """Uploads `bodies` as parts `numbers` (1.. by default), in parallel; returns the upload id
    and each part's entry for CompleteMultipartUpload, by number."""
    upload_id = upload_id or s3.create_multipart_upload(Bucket="inplace", Key=key)["UploadId"]
    numbers = numbers or list(range(1, len(bodies) + 1))

    def put(item):
        n, body = item
        etag = s3.upload_part(Bucket="inplace", Key=key, UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        # Parts sent side by side are hashed side by side: each still gets its own MD5.
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'
        return n, {"PartNumber": n, "ETag": etag}

    with ThreadPoolExecutor(parallel) as pool:
        return upload_id, dict(pool.map(put, zip(numbers, bodies)))


def complete(s3, key, upload_id, parts):
    return s3.complete_multipart_upload(Bucket="inplace", Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})


def read(s3, key) -> bytes:
    return s3.get_object(Bucket="inplace", Key=key)["Body"].read()


def test_parts_in_any_order_make_the_object_with_no_file_left_over(server, s3):
    bodies = [os.urandom(5 * MIB) for _ in range(5)] + [os.urandom(123_457)]
    # Part 4 arrives first and fixes the stride; the short last part fits its slot.
    upload_id, parts = put_parts(s3, "any-order", [bodies[3]], numbers=[4])
    order = [1, 6, 2, 5, 3]
    _, rest = put_parts(s3, "any-order", [bodies[n - 1] for n in order], numbers=order, upload_id=upload_id)
    parts.update(rest)
    want = b"".join(bodies)
    # The parts lie in one file, already as long as the object...
    shared = blob_stats(server)
    assert list(shared.values()) == [len(want)]
    done = complete(s3, "any-order", upload_id, [parts[n] for n in range(1, 7)])
    assert done["ETag"].endswith('-6"')
    assert read(s3, "any-order") == want
    # GetObject by part number finds each part's bytes.
    got = s3.get_object(Bucket="inplace", Key="any-order", PartNumber=6)
    assert got["Body"].read() == bodies[5] and got["PartsCount"] == 6
    # ... which became the object: nothing was copied and nothing was left behind.
    assert blob_stats(server) == shared


def test_a_part_uploaded_twice_keeps_its_last_bytes(server, s3):
    first = [os.urandom(5 * MIB) for _ in range(3)]
    upload_id, parts = put_parts(s3, "twice", first)
    again = os.urandom(5 * MIB)
    _, retried = put_parts(s3, "twice", [again], numbers=[2], upload_id=upload_id)
    assert retried[2]["ETag"] != parts[2]["ETag"]
    # The first upload's ETag no longer names a stored part.
    with pytest.raises(s3.exceptions.ClientError) as e:
        complete(s3, "twice", upload_id, [parts[1], parts[2], parts[3]])
    assert e.value.response["Error"]["Code"] == "InvalidPart"
    complete(s3, "twice", upload_id, [parts[1], retried[2], parts[3]])
    assert read(s3, "twice") == first[0] + again + first[2]
    assert blob_files(server, [15 * MIB]) == [15 * MIB]


def test_parts_left_out_or_skipped_are_not_in_the_object(server, s3):
    bodies = [os.urandom(5 * MIB) for _ in range(4)]
    # Parts 1, 2 and 4 named: part 3 is left out of the middle (the object is a copy).
    upload_id, parts = put_parts(s3, "skip", bodies)
    complete(s3, "skip", upload_id, [parts[1], parts[2], parts[4]])
    assert read(s3, "skip") == bodies[0] + bodies[1] + bodies[3]
    # Parts 1 and 2 named: what lies past them in the shared file is cut off.
    upload_id, parts = put_parts(s3, "prefix", bodies)
    complete(s3, "prefix", upload_id, [parts[1], parts[2]])
    assert read(s3, "prefix") == bodies[0] + bodies[1]
    assert s3.head_object(Bucket="inplace", Key="prefix")["ContentLength"] == 10 * MIB
    assert blob_files(server, [10 * MIB, 15 * MIB]) == [10 * MIB, 15 * MIB]


def test_a_part_longer_than_the_stride_and_uneven_parts(server, s3):
    bodies = [os.urandom(5 * MIB), os.urandom(7 * MIB), os.urandom(6 * MIB), os.urandom(10)]
    upload_id, parts = put_parts(s3, "uneven", bodies, parallel=1)
    complete(s3, "uneven", upload_id, [parts[n] for n in range(1, 5)])
    assert read(s3, "uneven") == b"".join(bodies)
    assert blob_files(server, [18 * MIB + 10]) == [18 * MIB + 10]


def test_aborting_removes_the_shared_file(server, s3):
    upload_id, _ = put_parts(s3, "gone", [os.urandom(5 * MIB) for _ in range(3)])
    assert blob_files(server, [15 * MIB]) == [15 * MIB]
    s3.abort_multipart_upload(Bucket="inplace", Key="gone", UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket="inplace").get("Uploads", []) == []
    assert blob_files(server, []) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_parts_stored_before_a_restart_complete_after_it(server, s3, client_factory, sig):
    bodies = [os.urandom(5 * MIB) for _ in range(3)] + [os.urandom(1000)]
    upload_id, parts = put_parts(s3, "restart", bodies[:2])
    server.restart(sig)
    s3 = client_factory("s3", server.url)
    _, later = put_parts(s3, "restart", bodies[2:], numbers=[3, 4], upload_id=upload_id)
    parts.update(later)
    listed = s3.list_parts(Bucket="inplace", Key="restart", UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in listed] == [5 * MIB, 5 * MIB, 5 * MIB, 1000]
    complete(s3, "restart", upload_id, [parts[n] for n in range(1, 5)])
    body = read(s3, "restart")
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(bodies)).digest()
    assert blob_files(server, [len(body)]) == [len(body)]
