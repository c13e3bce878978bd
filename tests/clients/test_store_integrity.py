"""A data dir whose database is missing, empty, schema-less or damaged: sagebox refuses to start
(non-zero exit, one message naming the file and what to do) and deletes no object file; a database
that is damaged while sagebox runs shows in the health report. A brand-new data dir still starts."""

import hashlib
import os
import sqlite3
import subprocess
import time

import requests

from support import clean_aws_env, free_port, sagebox_binary, unique


def put_objects(server, client_factory, n=40):
    """Objects of a few sizes, so the database spans several pages; returns the bucket."""
    s3 = client_factory("s3", server.url)
    bucket = unique("durable")
    s3.create_bucket(Bucket=bucket)
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=f"k/{i:03d}-" + "x" * 100, Body=os.urandom(50 + i * 7))
    return bucket


def object_files(data_dir):
    """Every blob file under the data dir with its digest."""
    root = data_dir / "objects" / "blobs"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*") if p.is_file()
    }


def db_files(data_dir):
    return [data_dir / name for name in ("sagebox.db", "sagebox.db-wal", "sagebox.db-shm")]


def checkpoint(data_dir):
    """Moves the write-ahead log into the database file, so damage to the file is damage to the
    database; works beside a running sagebox."""
    conn = sqlite3.connect(data_dir / "sagebox.db")
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()


def damage(data_dir):
    """Overwrites three pages in the middle of the database file with garbage."""
    db = data_dir / "sagebox.db"
    size = db.stat().st_size
    page = 4096
    assert size >= 8 * page, size
    with open(db, "r+b") as f:
        f.seek((size // page // 2) * page)
        f.write(b"\xde\xad\xbe\xef" * (3 * page // 4))
        f.flush()
        os.fsync(f.fileno())


def serve_expecting_refusal(data_dir, timeout=30):
    """Runs `sagebox serve` on `data_dir`; it must exit non-zero by itself. Returns its output."""
    proc = subprocess.Popen(
        [str(sagebox_binary()), "serve", "--bind", f"127.0.0.1:{free_port()}", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        env={**clean_aws_env(), "NO_COLOR": "1", "SAGEBOX_LOG": "info"},
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"sagebox started on a data dir it must refuse:\n{out[-4000:]}")
    assert proc.returncode != 0, out
    return out


def seeded_and_stopped(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    put_objects(server, client_factory)
    server.stop()
    files = object_files(server.data_dir)
    assert len(files) >= 40, files
    return server, files


def test_a_missing_database_beside_object_files_stops_the_start_and_deletes_nothing(
    spawn_sagebox, client_factory
):
    server, files = seeded_and_stopped(spawn_sagebox, client_factory)
    for f in db_files(server.data_dir):
        f.unlink(missing_ok=True)
    out = serve_expecting_refusal(server.data_dir)
    db = server.data_dir / "sagebox.db"
    assert f"{db} is missing or empty" in out, out
    assert "restore" in out and "aside" in out, out
    assert object_files(server.data_dir) == files
    # Refusing wrote no database, so the next start refuses again rather than sweeping.
    assert not db.exists() or db.stat().st_size == 0
    serve_expecting_refusal(server.data_dir)
    assert object_files(server.data_dir) == files


def test_an_empty_or_schemaless_database_beside_object_files_stops_the_start(spawn_sagebox, client_factory):
    server, files = seeded_and_stopped(spawn_sagebox, client_factory)
    db = server.data_dir / "sagebox.db"
    for f in db_files(server.data_dir):
        f.unlink(missing_ok=True)
    db.write_bytes(b"")
    out = serve_expecting_refusal(server.data_dir)
    assert f"{db} is missing or empty" in out, out
    assert object_files(server.data_dir) == files

    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE unrelated (x)")
    conn.commit()
    conn.close()
    out = serve_expecting_refusal(server.data_dir)
    assert f"{db} is missing or empty" in out, out
    assert object_files(server.data_dir) == files
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"unrelated"}, "the refused database was migrated"


def test_a_damaged_database_stops_the_start_and_deletes_nothing(spawn_sagebox, client_factory):
    server, files = seeded_and_stopped(spawn_sagebox, client_factory)
    checkpoint(server.data_dir)
    damage(server.data_dir)
    db = server.data_dir / "sagebox.db"
    before = db.read_bytes()
    out = serve_expecting_refusal(server.data_dir)
    assert f"{db} is damaged" in out, out
    assert "restore" in out and ".recover" in out and "aside" in out, out
    assert object_files(server.data_dir) == files
    assert db.read_bytes() == before, "the refused database was written to"


def test_a_brand_new_data_dir_starts(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    body = requests.get(server.url + "/_sagebox/health", timeout=10).json()
    assert body["subsystems"]["store"]["status"] == "ok", body
    bucket = put_objects(server, client_factory, n=3)
    # And a clean restart keeps every object (the sweep runs against a database that knew them).
    files = object_files(server.data_dir)
    server.restart()
    assert object_files(server.data_dir) == files
    s3 = client_factory("s3", server.url)
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 3


def test_a_database_damaged_while_running_shows_in_health(spawn_sagebox, client_factory):
    server = spawn_sagebox()
    put_objects(server, client_factory)
    body = requests.get(server.url + "/_sagebox/health", timeout=10).json()
    assert body["subsystems"]["store"]["status"] == "ok", body
    checkpoint(server.data_dir)
    damage(server.data_dir)
    # Health reuses a file check for a few seconds; past that it looks again.
    deadline = time.monotonic() + 20
    while True:
        store = requests.get(server.url + "/_sagebox/health", timeout=30).json()["subsystems"]["store"]
        if store["status"] != "ok" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert store["status"] == "error", store
    db = server.data_dir / "sagebox.db"
    assert f"{db} is damaged" in store["error"], store
    assert "restore" in store["error"], store


def test_a_database_removed_while_running_shows_in_health(spawn_sagebox):
    server = spawn_sagebox()
    db = server.data_dir / "sagebox.db"
    db.rename(server.data_dir / "moved.db")
    deadline = time.monotonic() + 20
    while True:
        store = requests.get(server.url + "/_sagebox/health", timeout=30).json()["subsystems"]["store"]
        if store["status"] != "ok" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert store["status"] == "error", store
    assert f"{db} is damaged (the file is gone" in store["error"], store
