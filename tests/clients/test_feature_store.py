"""SageMaker Feature Store with the real clients: the SageMaker Python SDK's FeatureGroup (create,
describe, ingest) and boto3's `sagemaker-featurestore-runtime` (GetRecord, BatchGetRecord,
DeleteRecord, PutRecord with a TTL), then the offline store's Parquet files read back from S3.

The SDK reaches sagebox through AWS_ENDPOINT_URL (the `sdk_session` fixture), as `sagebox env`
sets it up: the runtime client is made by the SDK's Session, not by this test.
"""

import io
import time

import botocore.exceptions
import pytest

from support import ACCOUNT, REGION, ROLE_ARN, unique

pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")
feature_group_mod = pytest.importorskip("sagemaker.feature_store.feature_group")
FeatureGroup = feature_group_mod.FeatureGroup


@pytest.fixture(scope="module")
def fs(sagebox, client_factory):
    return client_factory("sagemaker-featurestore-runtime", sagebox.url)


def frame():
    """Three customers; `event_time` is epoch seconds (a Fractional event time)."""
    df = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3"],
        "age": [31, 45, 27],
        "score": [0.5, 1.25, 3.0],
        "city": ["Lyon", "Oslo", "Lima"],
        "event_time": [1_700_000_000.0, 1_700_000_100.0, 1_700_003_700.0],
    })
    df["city"] = df["city"].astype("string")
    df["customer_id"] = df["customer_id"].astype("string")
    return df


def wait_created(group):
    """The SDK's own describe(), polled until the group leaves Creating."""
    for _ in range(50):
        status = group.describe()["FeatureGroupStatus"]
        if status != "Creating":
            return status
        time.sleep(0.1)
    raise AssertionError("the feature group stayed Creating")


def as_dict(record):
    return {f["FeatureName"]: f.get("ValueAsString", f.get("ValueAsStringList")) for f in record}


def offline_files(s3, bucket, prefix, at_least, timeout=15):
    """The Parquet files under `prefix`, once `at_least` rows are in them (written each second)."""
    deadline = time.time() + timeout
    while True:
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])]
        tables = [pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read()))
                  for k in keys]
        if sum(t.num_rows for t in tables) >= at_least or time.time() > deadline:
            return keys, tables
        time.sleep(0.3)


@pytest.fixture(scope="module")
def group(sdk_session, bucket):
    """A feature group made with the SDK, online and offline, with the frame ingested."""
    name = unique("customers")
    fg = FeatureGroup(name=name, sagemaker_session=sdk_session)
    df = frame()
    definitions = fg.load_feature_definitions(data_frame=df)
    types = {d.feature_name: d.feature_type.value for d in definitions}
    assert types == {"customer_id": "String", "age": "Integral", "score": "Fractional",
                     "city": "String", "event_time": "Fractional"}
    fg.create(s3_uri=f"s3://{bucket}/feature-store", record_identifier_name="customer_id",
              event_time_feature_name="event_time", role_arn=ROLE_ARN, enable_online_store=True)
    assert wait_created(fg) == "Created"
    manager = fg.ingest(data_frame=df, max_workers=1, wait=True)
    assert manager.failed_rows == []
    return fg


def test_sdk_group_is_described_with_its_resolved_offline_location(group, bucket):
    d = group.describe()
    created = int(d["CreationTime"].timestamp())
    s3 = d["OfflineStoreConfig"]["S3StorageConfig"]
    assert s3["S3Uri"] == f"s3://{bucket}/feature-store"
    assert s3["ResolvedOutputS3Uri"] == (
        f"s3://{bucket}/feature-store/{ACCOUNT}/sagemaker/{REGION}/offline-store/"
        f"{group.name}-{created}/data")
    assert d["OnlineStoreConfig"]["EnableOnlineStore"] is True
    assert d["RecordIdentifierFeatureName"] == "customer_id"
    catalog = d["OfflineStoreConfig"]["DataCatalogConfig"]
    assert catalog == {"TableName": f"{group.name.replace('-', '_')}_{created}",
                       "Catalog": "AwsDataCatalog", "Database": "sagemaker_featurestore"}


def test_get_record_returns_the_ingested_values(group, fs):
    got = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c2")
    assert as_dict(got["Record"]) == {"customer_id": "c2", "age": "45", "score": "1.25",
                                      "city": "Oslo", "event_time": "1700000100.0"}
    some = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c1",
                         FeatureNames=["age", "city"])
    assert as_dict(some["Record"]) == {"age": "31", "city": "Lyon"}
    missing = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="nobody")
    assert "Record" not in missing
    by_arn = fs.get_record(FeatureGroupName=group.describe()["FeatureGroupArn"],
                           RecordIdentifierValueAsString="c3")
    assert as_dict(by_arn["Record"])["city"] == "Lima"


def test_batch_get_record_answers_records_and_errors(group, fs):
    out = fs.batch_get_record(Identifiers=[
        {"FeatureGroupName": group.name, "RecordIdentifiersValueAsString": ["c1", "c3", "nobody"],
         "FeatureNames": ["customer_id", "score"]},
        {"FeatureGroupName": "no-such-group", "RecordIdentifiersValueAsString": ["x"]},
    ])
    records = {r["RecordIdentifierValueAsString"]: as_dict(r["Record"]) for r in out["Records"]}
    assert records == {"c1": {"customer_id": "c1", "score": "0.5"},
                       "c3": {"customer_id": "c3", "score": "3.0"}}
    assert [(e["FeatureGroupName"], e["RecordIdentifierValueAsString"], e["ErrorCode"])
            for e in out["Errors"]] == [("no-such-group", "x", "ResourceNotFound")]
    assert out["UnprocessedIdentifiers"] == []


def test_newest_event_time_wins(group, fs):
    put = lambda age, t: fs.put_record(FeatureGroupName=group.name, Record=[  # noqa: E731
        {"FeatureName": "customer_id", "ValueAsString": "c9"},
        {"FeatureName": "age", "ValueAsString": str(age)},
        {"FeatureName": "event_time", "ValueAsString": str(t)}])
    put(50, 1_700_000_500)
    put(20, 1_700_000_400)  # older: offline only
    got = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c9")
    assert as_dict(got["Record"])["age"] == "50"
    put(51, 1_700_000_600)
    got = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c9")
    assert as_dict(got["Record"])["age"] == "51"


def test_soft_and_hard_deletes(group, fs):
    fs.delete_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c1",
                     EventTime="1700000001")
    assert "Record" not in fs.get_record(FeatureGroupName=group.name,
                                         RecordIdentifierValueAsString="c1")
    # a hard delete older than the stored record is refused, as SageMaker does
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fs.delete_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c3",
                         EventTime="1700000000", DeletionMode="HardDelete")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "Record" in fs.get_record(FeatureGroupName=group.name,
                                     RecordIdentifierValueAsString="c3")
    fs.delete_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="c3",
                     EventTime="1700009999", DeletionMode="HardDelete")
    assert "Record" not in fs.get_record(FeatureGroupName=group.name,
                                         RecordIdentifierValueAsString="c3")


def test_records_expire_after_their_ttl(group, fs):
    now = time.time()
    fs.put_record(FeatureGroupName=group.name, TtlDuration={"Unit": "Seconds", "Value": 2},
                  Record=[{"FeatureName": "customer_id", "ValueAsString": "short"},
                          {"FeatureName": "event_time", "ValueAsString": f"{now:.3f}"}])
    got = fs.get_record(FeatureGroupName=group.name, RecordIdentifierValueAsString="short",
                        ExpirationTimeResponse="Enabled")
    assert as_dict(got["Record"])["customer_id"] == "short"
    expires = pd.Timestamp(got["ExpiresAt"]).timestamp()
    assert abs(expires - (now + 2)) < 0.01
    time.sleep(2.5)
    assert "Record" not in fs.get_record(FeatureGroupName=group.name,
                                         RecordIdentifierValueAsString="short")


def test_offline_store_holds_parquet_rows(group, s3, bucket, fs):
    # c1 (ingested, then soft deleted) must be in the files as a row and as a marker
    resolved = group.describe()["OfflineStoreConfig"]["S3StorageConfig"]["ResolvedOutputS3Uri"]
    prefix = resolved.split(f"s3://{bucket}/", 1)[1] + "/"
    keys, tables = offline_files(s3, bucket, prefix, at_least=4)
    assert keys
    for k in keys:
        rest = k[len(prefix):]
        assert rest.startswith("year="), k
        y, m, d, h, name = rest.split("/")
        assert (y[:5], m[:6], d[:4], h[:5]) == ("year=", "month=", "day=", "hour=")
        stamp, rand = name.removesuffix(".parquet").split("_")
        assert len(stamp) == 16 and stamp.endswith("Z") and len(rand) == 16
    rows = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
    assert list(rows.columns) == ["customer_id", "age", "score", "city", "event_time",
                                  "write_time", "api_invocation_time", "is_deleted"]
    schema = tables[0].schema
    assert str(schema.field("age").type) == "int64"
    assert str(schema.field("score").type) == "double"
    assert str(schema.field("city").type) == "string"
    assert str(schema.field("write_time").type) == "timestamp[ms, tz=UTC]"
    assert str(schema.field("is_deleted").type) == "bool"
    c2 = rows[(rows.customer_id == "c2") & ~rows.is_deleted].iloc[0]
    assert (c2.age, c2.score, c2.city, c2.event_time) == (45, 1.25, "Oslo", 1_700_000_100.0)
    assert c2.write_time >= c2.api_invocation_time
    marker = rows[(rows.customer_id == "c1") & rows.is_deleted].iloc[0]
    assert marker.event_time == 1_700_000_001.0
    assert pd.isna(marker.age) and pd.isna(marker.city)
    # the ingested rows sit in the hour of their event time
    assert any("year=2023/month=11/day=14/hour=22/" in k for k in keys)
    assert any("year=2023/month=11/day=14/hour=23/" in k for k in keys)


def test_errors_carry_the_feature_store_codes(group, fs):
    def error(call, **kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(**kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    code, message = error(fs.get_record, FeatureGroupName="no-such-group",
                          RecordIdentifierValueAsString="x")
    assert code == "ResourceNotFound" and "[no-such-group]" in message
    code, message = error(fs.put_record, FeatureGroupName="no-such-group",
                          Record=[{"FeatureName": "a", "ValueAsString": "1"}])
    assert code == "ValidationError" and "Resource Not Found" in message
    base = [{"FeatureName": "customer_id", "ValueAsString": "e1"},
            {"FeatureName": "event_time", "ValueAsString": "1700000000"}]
    code, message = error(fs.put_record, FeatureGroupName=group.name,
                          Record=base + [{"FeatureName": "undefined", "ValueAsString": "1"}])
    assert code == "ValidationError" and "[undefined]" in message
    code, message = error(fs.put_record, FeatureGroupName=group.name, Record=base[1:])
    assert code == "ValidationError" and "customer_id" in message
    code, _ = error(fs.put_record, FeatureGroupName=group.name,
                    Record=base + [{"FeatureName": "age", "ValueAsStringList": ["1"]}])
    assert code == "ValidationError"
    code, _ = error(fs.put_record, FeatureGroupName=group.name,
                    Record=base + [{"FeatureName": "age", "ValueAsString": "old"}])
    assert code == "ValidationError"
    code, _ = error(fs.get_record, FeatureGroupName=group.name,
                    RecordIdentifierValueAsString="c2", FeatureNames=["undefined"])
    assert code == "ValidationError"


def test_deleting_the_group_removes_its_records(sm, fs):
    name = unique("short-lived")
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                            {"FeatureName": "t", "FeatureType": "String"}],
        OnlineStoreConfig={"EnableOnlineStore": True})
    for _ in range(50):
        if sm.describe_feature_group(FeatureGroupName=name)["FeatureGroupStatus"] == "Created":
            break
        time.sleep(0.1)
    fs.put_record(FeatureGroupName=name, Record=[
        {"FeatureName": "id", "ValueAsString": "r"},
        {"FeatureName": "t", "ValueAsString": "2026-01-02T03:04:05Z"}])
    assert "Record" in fs.get_record(FeatureGroupName=name, RecordIdentifierValueAsString="r")
    sm.delete_feature_group(FeatureGroupName=name)
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                            {"FeatureName": "t", "FeatureType": "String"}],
        OnlineStoreConfig={"EnableOnlineStore": True})
    time.sleep(0.3)
    assert "Record" not in fs.get_record(FeatureGroupName=name, RecordIdentifierValueAsString="r")
    # a group whose event time feature is not defined is refused at creation
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sm.create_feature_group(
            FeatureGroupName=unique("bad"), RecordIdentifierFeatureName="id",
            EventTimeFeatureName="when",
            FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_update_adds_features_and_keeps_the_online_store(sdk_session, sm, fs):
    FeatureDefinition = pytest.importorskip("sagemaker.feature_store.feature_definition")
    name = unique("growing")
    fg = FeatureGroup(name=name, sagemaker_session=sdk_session)
    fg.load_feature_definitions(data_frame=frame()[["customer_id", "event_time"]])
    fg.create(s3_uri=False, record_identifier_name="customer_id",
              event_time_feature_name="event_time", role_arn=ROLE_ARN, enable_online_store=True)
    assert wait_created(fg) == "Created"
    fg.update(feature_additions=[FeatureDefinition.FeatureDefinition(
        "visits", FeatureDefinition.FeatureTypeEnum.INTEGRAL)])
    sm.update_feature_group(FeatureGroupName=name,
                            OnlineStoreConfig={"TtlDuration": {"Unit": "Hours", "Value": 1}})
    assert wait_created(fg) == "Created"
    d = fg.describe()
    assert [f["FeatureName"] for f in d["FeatureDefinitions"]] == [
        "customer_id", "event_time", "visits"]
    assert d["OnlineStoreConfig"] == {"EnableOnlineStore": True,
                                      "TtlDuration": {"Unit": "Hours", "Value": 1}}
    assert "OfflineStoreConfig" not in d
    now = time.time()
    fs.put_record(FeatureGroupName=name, Record=[
        {"FeatureName": "customer_id", "ValueAsString": "v"},
        {"FeatureName": "visits", "ValueAsString": "3"},
        {"FeatureName": "event_time", "ValueAsString": str(now)}])
    got = fs.get_record(FeatureGroupName=name, RecordIdentifierValueAsString="v",
                        ExpirationTimeResponse="Enabled")
    assert as_dict(got["Record"])["visits"] == "3"
    assert abs(pd.Timestamp(got["ExpiresAt"]).timestamp() - (now + 3600)) < 0.01
    # without an offline store, a write that names it is refused
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fs.put_record(FeatureGroupName=name, TargetStores=["OfflineStore"], Record=[
            {"FeatureName": "customer_id", "ValueAsString": "v"},
            {"FeatureName": "event_time", "ValueAsString": str(now)}])
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_batch_write_and_list_records(sm, fs):
    name = unique("batched")
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                            {"FeatureName": "t", "FeatureType": "Fractional"}],
        OnlineStoreConfig={"EnableOnlineStore": True})
    sm.describe_feature_group(FeatureGroupName=name)  # answers once the group is Created
    entry = lambda i: {"FeatureGroupName": name, "Record": [  # noqa: E731
        {"FeatureName": "id", "ValueAsString": f"r{i:02d}"},
        {"FeatureName": "t", "ValueAsString": "1700000000"}]}
    bad = {"FeatureGroupName": name, "Record": [{"FeatureName": "nope", "ValueAsString": "x"}]}
    out = fs.batch_write_record(Entries=[entry(i) for i in range(5)] + [bad])
    assert [e["Entry"] for e in out["Errors"]] == [bad]
    assert out["Errors"][0]["ErrorCode"] == "ValidationError"
    assert out["UnprocessedEntries"] == []
    fs.delete_record(FeatureGroupName=name, RecordIdentifierValueAsString="r01",
                     EventTime="1700000001")
    first = fs.list_records(FeatureGroupName=name, MaxResults=2)
    assert first["RecordIdentifiers"] == ["r00", "r02"]
    rest = fs.list_records(FeatureGroupName=name, NextToken=first["NextToken"])
    assert rest["RecordIdentifiers"] == ["r03", "r04"] and "NextToken" not in rest
    every = fs.list_records(FeatureGroupName=name, IncludeSoftDeletedRecords=True)
    assert every["RecordIdentifiers"] == [f"r{i:02d}" for i in range(5)]


def test_offline_rows_are_written_when_sagebox_stops(sagebox_spawn, client_factory):
    server = sagebox_spawn()
    s3 = client_factory("s3", server.url)
    sm = client_factory("sagemaker", server.url)
    fs = client_factory("sagemaker-featurestore-runtime", server.url)
    bucket, name = unique("offline"), unique("stopping")
    s3.create_bucket(Bucket=bucket)
    sm.create_feature_group(
        FeatureGroupName=name, RecordIdentifierFeatureName="id", EventTimeFeatureName="t",
        FeatureDefinitions=[{"FeatureName": "id", "FeatureType": "String"},
                            {"FeatureName": "t", "FeatureType": "String"}],
        OnlineStoreConfig={"EnableOnlineStore": True},
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://{bucket}"}})
    sm.describe_feature_group(FeatureGroupName=name)
    fs.put_record(FeatureGroupName=name, Record=[
        {"FeatureName": "id", "ValueAsString": "kept"},
        {"FeatureName": "t", "ValueAsString": "2026-03-04T05:06:07Z"}])
    server.restart()  # SIGTERM within the second the row waits
    keys, tables = offline_files(s3, bucket, "", at_least=1, timeout=0)
    assert len(keys) == 1 and "/year=2026/month=03/day=04/hour=05/20260304T050607Z_" in keys[0]
    assert tables[0].column("id").to_pylist() == ["kept"]
    # the online store survives the restart too
    got = fs.get_record(FeatureGroupName=name, RecordIdentifierValueAsString="kept")
    assert as_dict(got["Record"])["t"] == "2026-03-04T05:06:07Z"
