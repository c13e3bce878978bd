"""CloudWatch metrics through the real clients: boto3 (awsJson 1.0, what botocore 1.44.8 picks for
CloudWatch), botocore clients whose loaded model is switched to Smithy RPC v2 CBOR or the query
protocol (so each protocol's own serializer and parser run), the AWS CLI, and the SageMaker SDK's
TrainingJobAnalytics over a training job's published metrics."""
import datetime
import gzip
import json
import signal
import time
from pathlib import Path

import botocore
import botocore.session
import pytest
from botocore.exceptions import ClientError

from support import REGION, unique

PROTOCOLS = ["json", "smithy-rpc-v2-cbor", "query"]
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Copies of botocore's CloudWatch model, one per protocol, each a loader search path."""
    source = Path(botocore.__file__).parent / "data" / "cloudwatch" / "2010-08-01" / "service-2.json.gz"
    model = json.loads(gzip.open(source).read())
    out = {}
    for protocol in PROTOCOLS:
        root = tmp_path_factory.mktemp("cw-" + protocol.replace("-", ""))
        d = root / "cloudwatch" / "2010-08-01"
        d.mkdir(parents=True)
        model["metadata"]["protocol"] = protocol
        model["metadata"]["protocols"] = [protocol]
        (d / "service-2.json").write_text(json.dumps(model))
        out[protocol] = root
    return out


def speaking(models_dir, protocol, url, key="testing", secret="testing", **config):
    """A CloudWatch client whose model names only `protocol`."""
    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(models_dir[protocol]))
    client = session.create_client(
        "cloudwatch", region_name=REGION, endpoint_url=url, aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, **config),
    )
    resolved = client.meta.service_model.resolved_protocol
    assert resolved == protocol, resolved
    return client


@pytest.fixture(params=PROTOCOLS)
def cw(request, sagebox, models_dir):
    return speaking(models_dir, request.param, sagebox.url)


@pytest.fixture(params=PROTOCOLS)
def cw_raw(request, sagebox, models_dir):
    """Without botocore's own parameter checks, so sagebox's are exercised."""
    return speaking(models_dir, request.param, sagebox.url, parameter_validation=False)


@pytest.fixture(scope="module")
def boto_cw(sagebox, client_factory):
    client = client_factory("cloudwatch", sagebox.url)
    assert client.meta.service_model.resolved_protocol == "json"
    return client


def minute_ago(n):
    now = datetime.datetime.now(UTC).replace(second=0, microsecond=0)
    return now - datetime.timedelta(minutes=n)


def seed(cw, namespace, t0):
    """Minute 0: 1, 2, 3; minute 1: Values 10 (x1), 20 (x3); minute 2: a statistic set; all with
    dimension Host=a; minute 0 also 100 Seconds (another unit) under the same metric."""
    dims = [{"Name": "Host", "Value": "a"}]
    at = lambda minutes, seconds: t0 + datetime.timedelta(minutes=minutes, seconds=seconds)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(0, 1), "Value": 1, "Unit": "Count"},
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(0, 20), "Value": 2, "Unit": "Count"},
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(0, 59), "Value": 3, "Unit": "Count"},
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(1, 5), "Values": [10, 20],
         "Counts": [1, 3], "Unit": "Count"},
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(2, 30), "Unit": "Count",
         "StatisticValues": {"SampleCount": 2, "Sum": 5, "Minimum": 2, "Maximum": 3}},
    ])
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "latency", "Dimensions": dims, "Timestamp": at(0, 30), "Value": 100, "Unit": "Seconds"},
    ])


def test_statistics_per_period_are_exact(cw):
    ns, t0 = unique("cw-stats"), minute_ago(10)
    seed(cw, ns, t0)
    common = dict(Namespace=ns, MetricName="latency", Dimensions=[{"Name": "Host", "Value": "a"}],
                  StartTime=t0, EndTime=t0 + datetime.timedelta(minutes=3))
    out = cw.get_metric_statistics(Period=60, Unit="Count",
                                   Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"],
                                   **common)
    assert out["Label"] == "latency"
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert points == [
        {"Timestamp": t0, "SampleCount": 3.0, "Average": 2.0, "Sum": 6.0, "Minimum": 1.0,
         "Maximum": 3.0, "Unit": "Count"},
        {"Timestamp": t0 + datetime.timedelta(minutes=1), "SampleCount": 4.0, "Average": 17.5,
         "Sum": 70.0, "Minimum": 10.0, "Maximum": 20.0, "Unit": "Count"},
        {"Timestamp": t0 + datetime.timedelta(minutes=2), "SampleCount": 2.0, "Average": 2.5,
         "Sum": 5.0, "Minimum": 2.0, "Maximum": 3.0, "Unit": "Count"},
    ]
    # two-minute periods from the start; without a Unit filter each unit is its own point
    out = cw.get_metric_statistics(Period=120, Statistics=["Sum"], **common)
    got = sorted((p["Timestamp"], p["Unit"], p["Sum"]) for p in out["Datapoints"])
    assert got == [(t0, "Count", 76.0), (t0, "Seconds", 100.0),
                   (t0 + datetime.timedelta(minutes=2), "Count", 5.0)]
    # the dimension set must match exactly
    out = cw.get_metric_statistics(Period=60, Statistics=["Sum"], **{**common, "Dimensions": []})
    assert out["Datapoints"] == []


def test_percentiles_are_nearest_rank(cw):
    ns, t0 = unique("cw-pct"), minute_ago(10)
    seed(cw, ns, t0)
    out = cw.get_metric_statistics(
        Namespace=ns, MetricName="latency", Dimensions=[{"Name": "Host", "Value": "a"}],
        StartTime=t0, EndTime=t0 + datetime.timedelta(minutes=2), Period=60, Unit="Count",
        ExtendedStatistics=["p25", "p50", "p99.9"])
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["ExtendedStatistics"] for p in points] == [
        {"p25": 1.0, "p50": 2.0, "p99.9": 3.0},
        {"p25": 10.0, "p50": 20.0, "p99.9": 20.0},
    ]


def test_get_metric_data_series_order_and_pages(cw):
    ns, t0 = unique("cw-data"), minute_ago(10)
    seed(cw, ns, t0)
    metric = {"Namespace": ns, "MetricName": "latency", "Dimensions": [{"Name": "Host", "Value": "a"}]}
    queries = [
        {"Id": "sums", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum", "Unit": "Count"}},
        {"Id": "maxes", "Label": "worst", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Maximum"}},
        {"Id": "hidden", "ReturnData": False, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p50"}},
    ]
    span = dict(StartTime=t0, EndTime=t0 + datetime.timedelta(minutes=3))
    minutes = [t0 + datetime.timedelta(minutes=i) for i in range(3)]
    out = cw.get_metric_data(MetricDataQueries=queries, ScanBy="TimestampAscending", **span)
    results = [{k: r[k] for k in ("Id", "Label", "Timestamps", "Values", "StatusCode")}
               for r in out["MetricDataResults"]]
    assert results == [
        {"Id": "sums", "Label": "latency", "Timestamps": minutes, "Values": [6.0, 70.0, 5.0],
         "StatusCode": "Complete"},
        # without a unit, minute 0's 100 Seconds counts too
        {"Id": "maxes", "Label": "worst", "Timestamps": minutes, "Values": [100.0, 20.0, 3.0],
         "StatusCode": "Complete"},
    ]
    assert "NextToken" not in out
    # newest first by default, two points a page
    pages, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        out = cw.get_metric_data(MetricDataQueries=queries[:2], MaxDatapoints=2, **span, **extra)
        pages.append([(r["Id"], r["Values"], r["StatusCode"]) for r in out["MetricDataResults"]])
        token = out.get("NextToken")
        if not token:
            break
    assert pages == [
        [("sums", [5.0, 70.0], "PartialData"), ("maxes", [], "PartialData")],
        [("sums", [6.0], "Complete"), ("maxes", [3.0], "PartialData")],
        [("sums", [], "Complete"), ("maxes", [20.0, 100.0], "Complete")],
    ]


def test_list_metrics_filters_and_pages(cw):
    ns = unique("cw-list")
    now = datetime.datetime.now(UTC)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "cpu", "Dimensions": [{"Name": "Host", "Value": "a"}], "Value": 1},
        {"MetricName": "cpu", "Dimensions": [{"Name": "Host", "Value": "b"}, {"Name": "Az", "Value": "1"}], "Value": 1},
        {"MetricName": "mem", "Value": 1},
        {"MetricName": "old", "Value": 1, "Timestamp": now - datetime.timedelta(days=2)},
    ])

    def names(**kw):
        metrics = cw.list_metrics(Namespace=ns, **kw)["Metrics"]
        return sorted((m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
                      for m in metrics)

    assert names() == [("cpu", (("Az", "1"), ("Host", "b"))), ("cpu", (("Host", "a"),)),
                       ("mem", ()), ("old", ())]
    assert names(MetricName="cpu", Dimensions=[{"Name": "Host"}]) == [
        ("cpu", (("Az", "1"), ("Host", "b"))), ("cpu", (("Host", "a"),))]
    assert names(Dimensions=[{"Name": "Host", "Value": "a"}]) == [("cpu", (("Host", "a"),))]
    assert names(Dimensions=[{"Name": "Az"}, {"Name": "Host", "Value": "a"}]) == []
    # RecentlyActive looks at when data was put, not at its timestamps
    assert len(names(RecentlyActive="PT3H")) == 4


def test_list_metrics_pages_by_500(boto_cw):
    ns = unique("cw-many")
    for chunk in range(2):
        boto_cw.put_metric_data(Namespace=ns, MetricData=[
            {"MetricName": "m", "Dimensions": [{"Name": "I", "Value": str(chunk * 1000 + i)}], "Value": i}
            for i in range(1000)])
    seen, token, pages = set(), None, 0
    while True:
        out = boto_cw.list_metrics(Namespace=ns, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(out["Metrics"]) == 500
        seen.update(m["Dimensions"][0]["Value"] for m in out["Metrics"])
        token = out.get("NextToken")
        if not token:
            break
    assert pages == 4 and len(seen) == 2000
    # the paginator follows the same tokens
    pager = boto_cw.get_paginator("list_metrics").paginate(Namespace=ns)
    assert sum(len(p["Metrics"]) for p in pager) == 2000


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_refusals_carry_cloudwatch_codes_and_messages(cw_raw):
    ns = unique("cw-err")
    now = datetime.datetime.now(UTC)
    put = lambda **datum: error_of(lambda: cw_raw.put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": "m", **datum}]))
    assert error_of(lambda: cw_raw.put_metric_data(
        Namespace="AWS/EC2", MetricData=[{"MetricName": "m", "Value": 1}])) == (
        "InvalidParameterValue", "The value AWS/EC2 for parameter Namespace is invalid.", 400)
    assert put(Value=1, Values=[1]) == (
        "InvalidParameterCombination",
        "The parameters MetricData.member.1.Value and MetricData.member.1.Values are mutually "
        "exclusive and you have specified both.", 400)
    assert put(Values=[1, 2], Counts=[1]) == (
        "InvalidParameterValue",
        "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size.",
        400)
    assert put(Value=1, Timestamp=now - datetime.timedelta(days=15)) == (
        "InvalidParameterValue",
        "The parameter MetricData.member.1.Timestamp must specify a time no more than two weeks in the past.",
        400)
    assert put(Value=1, Timestamp=now + datetime.timedelta(hours=3)) == (
        "InvalidParameterValue",
        "The parameter MetricData.member.1.Timestamp must specify a time no more than two hours in the future.",
        400)
    assert put(Values=list(range(151)))[:2] == (
        "InvalidParameterValue",
        "The collection MetricData.member.1.Values must not have a size greater than 150.")
    whole = minute_ago(0)
    stats = dict(Namespace=ns, MetricName="m", StartTime=whole - datetime.timedelta(hours=1), EndTime=whole)
    assert error_of(lambda: cw_raw.get_metric_statistics(Period=60, **stats)) == (
        "InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics, but not both.", 400)
    assert error_of(lambda: cw_raw.get_metric_statistics(Period=90, Statistics=["Sum"], **stats))[:2] == (
        "InvalidParameterValue", "The parameter Period must be 1, 5, 10, 30, or a multiple of 60.")
    assert error_of(lambda: cw_raw.get_metric_statistics(Period=60, ExtendedStatistics=["p101"], **stats))[:2] == (
        "InvalidParameterValue", "The value p101 for parameter ExtendedStatistics.member.1 is invalid.")
    assert error_of(lambda: cw_raw.get_metric_statistics(
        Period=60, Statistics=["Sum"], **{**stats, "StartTime": whole - datetime.timedelta(days=2)})) == (
        "InvalidParameterCombination",
        "You have requested up to 2,880 datapoints, which exceeds the limit of 1,440. You may reduce "
        "the datapoints requested by increasing Period, or decreasing the time range.", 400)
    assert error_of(lambda: cw_raw.get_metric_statistics(
        Period=60, Statistics=["Sum"], **{**stats, "StartTime": whole}))[:2] == (
        "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
    span = dict(StartTime=now - datetime.timedelta(hours=1), EndTime=now)
    code, message, status = error_of(lambda: cw_raw.get_metric_data(
        MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}], **span))
    assert (code, status) == ("InvalidParameterValue", 400)
    assert message.startswith("sagebox does not evaluate metric math: the expression SUM(METRICS()) "
                              "in MetricDataQueries.member.1.Expression is not supported")
    metric = {"Namespace": ns, "MetricName": "m"}
    assert error_of(lambda: cw_raw.get_metric_data(MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}],
        NextToken="garbage", **span))[0] == "InvalidNextToken"
    assert error_of(lambda: cw_raw.get_metric_data(MetricDataQueries=[
        {"Id": "M1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}}], **span))[:2] == (
        "InvalidParameterValue", "The value M1 for parameter MetricDataQueries.member.1.Id is invalid.")
    assert error_of(lambda: cw_raw.get_metric_data(MetricDataQueries=[
        {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Median"}}], **span))[:2] == (
        "InvalidParameterValue",
        "The value Median for parameter MetricDataQueries.member.1.MetricStat.Stat is invalid.")
    # the model's own constraints: a missing required member
    code, _, status = error_of(lambda: cw_raw.put_metric_data(MetricData=[{"MetricName": "m", "Value": 1}]))
    assert (code, status) == ("ValidationError", 400)


def test_the_cli_puts_and_reads_statistics(aws):
    ns = unique("cw-cli")
    t0 = minute_ago(5)
    stamp = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    for value in ("4", "8"):
        aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name", "jobs",
            "--dimensions", "Queue=q1", "--value", value, "--unit", "Count", "--timestamp", stamp)
    out = aws("cloudwatch", "get-metric-statistics", "--namespace", ns, "--metric-name", "jobs",
              "--dimensions", "Name=Queue,Value=q1", "--start-time", stamp,
              "--end-time", (t0 + datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "--period", "60", "--statistics", "Sum", "Average", "SampleCount").json
    assert out["Label"] == "jobs"
    assert len(out["Datapoints"]) == 1
    point = out["Datapoints"][0]
    assert (point["Sum"], point["Average"], point["SampleCount"], point["Unit"]) == (12.0, 6.0, 2.0, "Count")
    # the CLI prints awsJson timestamps as they came: epoch seconds
    assert point["Timestamp"] == t0.timestamp()
    listed = aws("cloudwatch", "list-metrics", "--namespace", ns).json["Metrics"]
    assert listed == [{"Namespace": ns, "MetricName": "jobs", "Dimensions": [{"Name": "Queue", "Value": "q1"}]}]
    bad = aws("cloudwatch", "put-metric-data", "--namespace", "AWS/Lambda", "--metric-name", "x",
              "--value", "1", check=False)
    assert bad.returncode != 0
    assert "(InvalidParameterValue)" in bad.stderr and "The value AWS/Lambda for parameter Namespace is invalid." in bad.stderr


def test_metrics_survive_a_restart(spawn_sagebox, models_dir):
    server = spawn_sagebox()
    ns, t0 = unique("cw-durable"), minute_ago(3)
    cw = speaking(models_dir, "json", server.url)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "m", "Timestamp": t0 + datetime.timedelta(seconds=s), "Value": v}
        for s, v in ((1, 2.0), (2, 4.0))])
    server.restart(signal.SIGKILL)
    cw = speaking(models_dir, "smithy-rpc-v2-cbor", server.url)
    out = cw.get_metric_statistics(Namespace=ns, MetricName="m", StartTime=t0,
                                   EndTime=t0 + datetime.timedelta(minutes=1), Period=60,
                                   Statistics=["Average", "SampleCount"])
    assert [(p["Timestamp"], p["Average"], p["SampleCount"]) for p in out["Datapoints"]] == [(t0, 3.0, 2.0)]
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=ns)["Metrics"]] == ["m"]


def test_strict_mode_checks_signatures_in_every_protocol(spawn_sagebox, models_dir):
    key, secret = "AKIDCLOUDWATCHTEST", "s3cr3t/cw+chars"
    server = spawn_sagebox("--auth", "strict", "--credentials", f"{key}:{secret}")
    ns = unique("cw-strict")
    # large enough that botocore gzips the body: the signature covers the compressed bytes
    data = [{"MetricName": "m", "Dimensions": [{"Name": "I", "Value": str(i)}], "Value": i} for i in range(300)]
    refusals = {
        "json": (("InvalidSignatureException", 400), ("UnrecognizedClientException", 400)),
        "smithy-rpc-v2-cbor": (("InvalidSignatureException", 400), ("UnrecognizedClientException", 400)),
        "query": (("SignatureDoesNotMatch", 403), ("InvalidClientTokenId", 403)),
    }
    for protocol, (wrong_secret, unknown_key) in refusals.items():
        good = speaking(models_dir, protocol, server.url, key, secret)
        good.put_metric_data(Namespace=ns + protocol, MetricData=data)
        assert len(good.list_metrics(Namespace=ns + protocol)["Metrics"]) == 300
        bad = speaking(models_dir, protocol, server.url, key, "wrong")
        assert error_of(lambda: bad.list_metrics(Namespace=ns))[::2] == wrong_secret, protocol
        stranger = speaking(models_dir, protocol, server.url, "AKIDSTRANGER", secret)
        assert error_of(lambda: stranger.put_metric_data(Namespace=ns, MetricData=data))[::2] == unknown_key


# --- training jobs publish their metrics -------------------------------------------------------

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


def test_training_job_analytics_reads_the_published_metrics(sagebox, client_factory, bucket, byo_image,
                                                           sdk_session):
    from sagemaker.analytics import TrainingJobAnalytics

    sm = client_factory("sagemaker", sagebox.url)
    logs = client_factory("logs", sagebox.url)
    name = unique("cw-job")
    sm.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters={"mode": "metrics"},
        AlgorithmSpecification={"TrainingImage": byo_image, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                                                      {"Name": "accuracy", "Regex": r"accuracy=([0-9.]+)"}]},
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % bucket},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    deadline = time.time() + 300
    while (status := sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]) not in (
            "Completed", "Failed", "Stopped"):
        assert time.time() < deadline
        time.sleep(0.5)
    assert status == "Completed"
    # what the real service would give: the log lines' values, averaged per minute of their time
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=name + "/")["logStreams"][0]["logStreamName"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
                                 startFromHead=True)["events"]
    per_minute = {}
    for e in events:
        if "loss=" in e["message"]:
            value = float(e["message"].split("loss=")[1].split()[0])
            per_minute.setdefault(e["timestamp"] // 60000 * 60, []).append(value)
    assert sum(len(v) for v in per_minute.values()) == 3
    base = min(per_minute)
    expected = [(float(m - base), sum(v) / len(v)) for m, v in sorted(per_minute.items())]

    frame = TrainingJobAnalytics(name, metric_names=["train:loss"], sagemaker_session=sdk_session).dataframe()
    assert list(frame["metric_name"]) == ["train:loss"] * len(expected)
    assert [float(t) for t in frame["timestamp"]] == [t for t, _ in expected]
    assert list(frame["value"]) == pytest.approx([v for _, v in expected])
    # without metric names the SDK reads the job's MetricDefinitions
    frame = TrainingJobAnalytics(name, sagemaker_session=sdk_session).dataframe()
    assert sorted(set(frame["metric_name"])) == ["accuracy", "train:loss"]
    listed = client_factory("cloudwatch", sagebox.url).list_metrics(
        Namespace="/aws/sagemaker/TrainingJobs", Dimensions=[{"Name": "TrainingJobName", "Value": name}])
    assert sorted(m["MetricName"] for m in listed["Metrics"]) == ["accuracy", "train:loss"]
