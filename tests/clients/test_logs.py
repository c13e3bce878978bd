"""CloudWatch Logs through boto3: groups, streams, PutLogEvents, GetLogEvents, FilterLogEvents.

Semantics follow the Logs API reference (botocore model logs/2014-03-28): GetLogEvents' startTime
is inclusive and endTime exclusive, FilterLogEvents' endTime inclusive; at the end of a stream a
token comes back unchanged; DescribeLogGroups is ASCII-sorted by name.
"""

import time

import pytest

from support import ACCOUNT, REGION, unique


def now_ms():
    return int(time.time() * 1000)


def new_group(logs):
    name = "/sagebox/test/" + unique("group")
    logs.create_log_group(logGroupName=name)
    return name


def new_stream(logs, group, name=None):
    name = name or unique("stream")
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    return name


def put(logs, group, stream, events):
    """events: [(timestamp_ms, message)] in chronological order."""
    return logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": t, "message": m} for t, m in events],
    )


def messages(events):
    return [e["message"] for e in events]


def error_of(excinfo):
    return excinfo.value.response["Error"], excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def stream_of_five(logs):
    """A group with one stream holding events e1..e5, one second apart."""
    group = new_group(logs)
    stream = new_stream(logs, group)
    t0 = now_ms() - 60_000
    events = [(t0 + i * 1000, f"e{i + 1}") for i in range(5)]
    put(logs, group, stream, events)
    return group, stream, events


# --- log groups -------------------------------------------------------------------------------


def test_created_log_group_is_described_with_arn_and_creation_time(logs):
    before = now_ms()
    name = new_group(logs)
    after = now_ms()
    (g,) = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    assert g["logGroupName"] == name
    assert g["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"
    assert before - 1000 <= g["creationTime"] <= after + 1000, (before, g["creationTime"], after)


def test_create_log_group_twice_is_resource_already_exists(logs):
    name = new_group(logs)
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException) as e:
        logs.create_log_group(logGroupName=name)
    err, status = error_of(e)
    assert err["Code"] == "ResourceAlreadyExistsException"
    assert err["Message"] == "The specified log group already exists"
    assert status == 400


def test_describe_log_groups_filters_by_prefix_in_ascii_order(logs):
    prefix = "/sagebox/test/" + unique("prefix")
    for suffix in ["b", "a", "C"]:
        logs.create_log_group(logGroupName=f"{prefix}/{suffix}")
    logs.create_log_group(logGroupName=prefix + "-elsewhere-no")  # shares the prefix text too
    found = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=prefix + "/")["logGroups"]]
    assert found == [f"{prefix}/C", f"{prefix}/a", f"{prefix}/b"]


def test_describe_log_groups_pages_with_limit(logs):
    prefix = "/sagebox/test/" + unique("pages")
    created = [f"{prefix}/{i}" for i in range(5)]
    for n in created:
        logs.create_log_group(logGroupName=n)
    first = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2)
    assert [g["logGroupName"] for g in first["logGroups"]] == created[:2]
    assert first.get("nextToken")
    seen = []
    for page in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=prefix, PaginationConfig={"PageSize": 2}
    ):
        seen.extend(g["logGroupName"] for g in page["logGroups"])
    assert seen == created


def test_delete_log_group_removes_it_and_its_streams(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    put(logs, group, stream, [(now_ms(), "hello")])
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName=group)
    # a group created again under the same name starts empty
    logs.create_log_group(logGroupName=group)
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []


def test_delete_missing_log_group_is_resource_not_found(logs):
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as e:
        logs.delete_log_group(logGroupName="/sagebox/test/" + unique("absent"))
    err, status = error_of(e)
    assert err["Message"] == "The specified log group does not exist."
    assert status == 400


# --- log streams ------------------------------------------------------------------------------


def test_create_log_stream_twice_is_resource_already_exists(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException) as e:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    err, status = error_of(e)
    assert err["Message"] == "The specified log stream already exists"
    assert status == 400


def test_same_stream_name_in_two_groups_is_allowed(logs):
    g1, g2 = new_group(logs), new_group(logs)
    new_stream(logs, g1, "shared-name")
    new_stream(logs, g2, "shared-name")
    for g in (g1, g2):
        assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=g)["logStreams"]] == ["shared-name"]


def test_create_log_stream_in_missing_group_is_resource_not_found(logs):
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as e:
        logs.create_log_stream(logGroupName="/sagebox/test/" + unique("nogroup"), logStreamName="s")
    err, _ = error_of(e)
    assert err["Message"] == "The specified log group does not exist."


def test_put_log_events_to_missing_stream_is_resource_not_found(logs):
    group = new_group(logs)
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as e:
        put(logs, group, "no-such-stream", [(now_ms(), "x")])
    err, _ = error_of(e)
    assert err["Message"] == "The specified log stream does not exist."


def test_get_log_events_from_missing_stream_is_resource_not_found(logs):
    group = new_group(logs)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=group, logStreamName="no-such-stream")


def test_delete_log_stream_removes_it(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    keep = new_stream(logs, group)
    logs.delete_log_stream(logGroupName=group, logStreamName=stream)
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]] == [keep]
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_stream(logGroupName=group, logStreamName=stream)


def test_describe_log_streams_reports_arn_and_event_times(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    t0 = now_ms() - 10_000
    put(logs, group, stream, [(t0, "first"), (t0 + 500, "middle"), (t0 + 2000, "last")])
    (s,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert s["logStreamName"] == stream
    assert s["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:{stream}"
    assert s["firstEventTimestamp"] == t0
    assert s["lastEventTimestamp"] == t0 + 2000
    assert s["lastIngestionTime"] >= s["creationTime"]


def test_describe_log_streams_by_name_prefix_and_order(logs):
    group = new_group(logs)
    for n in ["job/b", "job/a", "job/c", "other/a"]:
        new_stream(logs, group, n)
    asc = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="job/")["logStreams"]
    assert [s["logStreamName"] for s in asc] == ["job/a", "job/b", "job/c"]
    desc = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="job/", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in desc] == ["job/c", "job/b", "job/a"]


def test_describe_log_streams_orders_by_last_event_time(logs):
    group = new_group(logs)
    t0 = now_ms() - 60_000
    for name, last in [("s-a", t0 + 3000), ("s-b", t0 + 1000), ("s-c", t0 + 2000)]:
        new_stream(logs, group, name)
        put(logs, group, name, [(t0, "start"), (last, "end")])
    asc = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime")["logStreams"]
    assert [s["logStreamName"] for s in asc] == ["s-b", "s-c", "s-a"]
    desc = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in desc] == ["s-a", "s-c", "s-b"]


def test_describe_log_streams_rejects_prefix_with_last_event_time_order(logs):
    # "If orderBy is LastEventTime, you cannot specify this parameter."
    group = new_group(logs)
    with pytest.raises(logs.exceptions.InvalidParameterException) as e:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="x")
    assert error_of(e)[1] == 400


def test_describe_log_streams_pages_with_limit(logs):
    group = new_group(logs)
    created = [f"s{i}" for i in range(5)]
    for n in created:
        new_stream(logs, group, n)
    first = logs.describe_log_streams(logGroupName=group, limit=2)
    assert [s["logStreamName"] for s in first["logStreams"]] == created[:2]
    second = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=first["nextToken"])
    assert [s["logStreamName"] for s in second["logStreams"]] == created[2:4]
    third = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=second["nextToken"])
    assert [s["logStreamName"] for s in third["logStreams"]] == created[4:]
    assert "nextToken" not in third


def test_describe_log_streams_of_missing_group_is_resource_not_found(logs):
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/sagebox/test/" + unique("none"))


# --- PutLogEvents / GetLogEvents --------------------------------------------------------------


def test_get_log_events_returns_what_was_put(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    t0 = now_ms() - 5000
    before = now_ms()
    put(logs, group, stream, [(t0, "line one"), (t0 + 1, "line two ✓"), (t0 + 2, "  padded  ")])
    after = now_ms()
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert messages(events) == ["line one", "line two ✓", "  padded  "]
    assert [e["timestamp"] for e in events] == [t0, t0 + 1, t0 + 2]
    for e in events:
        assert before - 1000 <= e["ingestionTime"] <= after + 1000


def test_get_log_events_without_start_from_head_returns_the_latest(logs, stream_of_five):
    group, stream, _ = stream_of_five
    out = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)
    assert messages(out["events"]) == ["e4", "e5"]


def test_get_log_events_start_from_head_with_limit_returns_the_earliest(logs, stream_of_five):
    group, stream, _ = stream_of_five
    out = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2, startFromHead=True)
    assert messages(out["events"]) == ["e1", "e2"]


def test_forward_tokens_walk_the_stream_and_stop_with_the_same_token(logs, stream_of_five):
    group, stream, _ = stream_of_five
    kw = dict(logGroupName=group, logStreamName=stream, limit=2, startFromHead=True)
    page = logs.get_log_events(**kw)
    seen = [messages(page["events"])]
    token = page["nextForwardToken"]
    for _ in range(10):
        page = logs.get_log_events(nextToken=token, **kw)
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        seen.append(messages(page["events"]))
        token = page["nextForwardToken"]
    else:
        pytest.fail("nextForwardToken never repeated at the end of the stream")
    assert seen == [["e1", "e2"], ["e3", "e4"], ["e5"]]
    # asking again at the end is stable
    again = logs.get_log_events(nextToken=token, **kw)
    assert again["events"] == [] and again["nextForwardToken"] == token


def test_forward_token_at_the_end_picks_up_events_written_later(logs, stream_of_five):
    # how `sagemaker` SDK log tailing works: keep calling with the last nextForwardToken
    group, stream, events = stream_of_five
    kw = dict(logGroupName=group, logStreamName=stream, startFromHead=True)
    page = logs.get_log_events(**kw)
    assert messages(page["events"]) == ["e1", "e2", "e3", "e4", "e5"]
    token = page["nextForwardToken"]
    end = logs.get_log_events(nextToken=token, **kw)
    assert end["events"] == [] and end["nextForwardToken"] == token
    last_ts = events[-1][0]
    put(logs, group, stream, [(last_ts + 1000, "e6"), (last_ts + 2000, "e7")])
    more = logs.get_log_events(nextToken=token, **kw)
    assert messages(more["events"]) == ["e6", "e7"]
    assert more["nextForwardToken"] != token


def test_backward_tokens_walk_toward_the_start(logs, stream_of_five):
    group, stream, _ = stream_of_five
    kw = dict(logGroupName=group, logStreamName=stream, limit=2)
    page = logs.get_log_events(**kw)
    assert messages(page["events"]) == ["e4", "e5"]
    page = logs.get_log_events(nextToken=page["nextBackwardToken"], **kw)
    assert messages(page["events"]) == ["e2", "e3"]
    page = logs.get_log_events(nextToken=page["nextBackwardToken"], **kw)
    assert messages(page["events"]) == ["e1"]
    token = page["nextBackwardToken"]
    start = logs.get_log_events(nextToken=token, **kw)
    assert start["events"] == []
    assert start["nextBackwardToken"] == token


def test_get_log_events_time_range_includes_start_and_excludes_end(logs, stream_of_five):
    group, stream, events = stream_of_five
    (t1, _), (t2, _), (t3, _), (t4, _), _ = events
    out = logs.get_log_events(
        logGroupName=group, logStreamName=stream, startTime=t2, endTime=t4, startFromHead=True
    )
    assert messages(out["events"]) == ["e2", "e3"]


def test_get_log_events_on_an_empty_stream_returns_tokens(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    out = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    assert out["events"] == []
    # "The returned tokens are never null."
    assert out["nextForwardToken"] and out["nextBackwardToken"]


def test_put_log_events_reports_too_old_and_too_new_events(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    now = now_ms()
    out = put(logs, group, stream, [
        (now - 15 * 24 * 3600 * 1000, "ancient"),   # older than 14 days: rejected
        (now - 1000, "fine"),
        (now + 3 * 3600 * 1000, "future"),          # more than 2 hours ahead: rejected
    ])
    info = out["rejectedLogEventsInfo"]
    assert info["tooOldLogEventEndIndex"] == 1   # exclusive
    assert info["tooNewLogEventStartIndex"] == 2  # inclusive
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert messages(events) == ["fine"]


def test_put_log_events_out_of_chronological_order_fails(logs):
    # "A batch of log events in a single request must be in a chronological order. Otherwise, the
    # operation fails."
    group = new_group(logs)
    stream = new_stream(logs, group)
    now = now_ms()
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_log_events(
            logGroupName=group, logStreamName=stream,
            logEvents=[{"timestamp": now, "message": "later"}, {"timestamp": now - 5000, "message": "earlier"}],
        )


def test_put_log_events_ignores_a_stale_sequence_token(logs):
    # the sequence token is ignored: any value is accepted
    group = new_group(logs)
    stream = new_stream(logs, group)
    now = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName=stream, sequenceToken="12345",
                        logEvents=[{"timestamp": now, "message": "a"}])
    logs.put_log_events(logGroupName=group, logStreamName=stream, sequenceToken="12345",
                        logEvents=[{"timestamp": now + 1, "message": "b"}])
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert messages(events) == ["a", "b"]


def test_events_from_separate_batches_come_back_in_timestamp_order(logs):
    group = new_group(logs)
    stream = new_stream(logs, group)
    t0 = now_ms() - 30_000
    put(logs, group, stream, [(t0 + 2000, "third"), (t0 + 3000, "fourth")])
    put(logs, group, stream, [(t0, "first"), (t0 + 1000, "second")])
    events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    assert messages(events) == ["first", "second", "third", "fourth"]


# --- FilterLogEvents --------------------------------------------------------------------------


@pytest.fixture
def two_streams(logs):
    group = new_group(logs)
    t0 = now_ms() - 120_000
    new_stream(logs, group, "train/algo-1")
    new_stream(logs, group, "train/algo-2")
    new_stream(logs, group, "serve/host")
    put(logs, group, "train/algo-1", [
        (t0 + 0, "INFO starting"),
        (t0 + 2000, "ERROR connection timeout"),
        (t0 + 4000, "WARN disk full soon"),
    ])
    put(logs, group, "train/algo-2", [
        (t0 + 1000, "INFO starting"),
        (t0 + 3000, "ERROR disk full"),
        (t0 + 5000, "INFO done"),
    ])
    put(logs, group, "serve/host", [(t0 + 6000, "ERROR model failed to load")])
    return group, t0


def test_filter_without_pattern_interleaves_all_streams_by_time(logs, two_streams):
    group, t0 = two_streams
    events = logs.filter_log_events(logGroupName=group)["events"]
    assert [(e["timestamp"] - t0, e["logStreamName"]) for e in events] == [
        (0, "train/algo-1"), (1000, "train/algo-2"), (2000, "train/algo-1"),
        (3000, "train/algo-2"), (4000, "train/algo-1"), (5000, "train/algo-2"), (6000, "serve/host"),
    ]
    assert all(e["eventId"] for e in events)
    assert len({e["eventId"] for e in events}) == len(events)
    assert all(e["ingestionTime"] > 0 for e in events)


def test_filter_pattern_term_matches_across_streams(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, filterPattern="ERROR")["events"]
    assert messages(events) == ["ERROR connection timeout", "ERROR disk full", "ERROR model failed to load"]


def test_filter_pattern_terms_must_all_match(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, filterPattern="ERROR disk")["events"]
    assert messages(events) == ["ERROR disk full"]


def test_filter_pattern_question_marks_match_any_term(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, filterPattern="?WARN ?timeout")["events"]
    assert messages(events) == ["ERROR connection timeout", "WARN disk full soon"]


def test_filter_pattern_minus_excludes_a_term(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, filterPattern="ERROR -disk")["events"]
    assert messages(events) == ["ERROR connection timeout", "ERROR model failed to load"]


def test_filter_pattern_quoted_phrase_matches_exactly(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, filterPattern='"disk full soon"')["events"]
    assert messages(events) == ["WARN disk full soon"]


def test_filter_by_stream_names(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(
        logGroupName=group, logStreamNames=["train/algo-2", "serve/host"], filterPattern="ERROR"
    )["events"]
    assert [(e["logStreamName"], e["message"]) for e in events] == [
        ("train/algo-2", "ERROR disk full"), ("serve/host", "ERROR model failed to load"),
    ]


def test_filter_by_stream_name_prefix(logs, two_streams):
    group, _ = two_streams
    events = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="train/")["events"]
    assert {e["logStreamName"] for e in events} == {"train/algo-1", "train/algo-2"}
    assert len(events) == 6


def test_filter_with_both_stream_names_and_prefix_is_invalid(logs, two_streams):
    group, _ = two_streams
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, logStreamNames=["serve/host"], logStreamNamePrefix="train/")


def test_filter_time_range_includes_both_ends(logs, two_streams):
    group, t0 = two_streams
    events = logs.filter_log_events(logGroupName=group, startTime=t0 + 2000, endTime=t0 + 4000)["events"]
    assert [e["timestamp"] - t0 for e in events] == [2000, 3000, 4000]


def test_filter_pages_with_limit_and_next_token(logs, two_streams):
    group, t0 = two_streams
    seen, token = [], None
    for _ in range(20):
        kw = dict(logGroupName=group, limit=2)
        if token:
            kw["nextToken"] = token
        page = logs.filter_log_events(**kw)
        assert len(page["events"]) <= 2
        seen.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    else:
        pytest.fail("FilterLogEvents never stopped returning nextToken")
    assert [e["timestamp"] - t0 for e in seen] == [0, 1000, 2000, 3000, 4000, 5000, 6000]


def test_filter_paginator_collects_every_event(logs, two_streams):
    group, _ = two_streams
    result = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern="INFO", PaginationConfig={"PageSize": 1}
    ).build_full_result()
    assert messages(result["events"]) == ["INFO starting", "INFO starting", "INFO done"]


def test_filter_missing_group_is_resource_not_found(logs):
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.filter_log_events(logGroupName="/sagebox/test/" + unique("gone"))
