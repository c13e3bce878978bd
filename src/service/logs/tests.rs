//! Service-level tests of the Logs rules, against a real store in a temporary directory.

use super::*;
use crate::config::Config;

fn services(dir: &tempfile::TempDir) -> Services {
    Services::open(Config::for_tests(dir.path().to_path_buf())).unwrap()
}

async fn with_stream(s: &Services, group: &str, stream: &str) {
    let p = CreateLogGroup {
        name: group.into(),
        class: None,
        kms_key_id: None,
        deletion_protection: false,
        tags: vec![],
    };
    s.create_log_group(p).await.unwrap();
    s.create_log_stream(group, stream).await.unwrap();
}

fn get(token: Option<String>, start_from_head: bool, limit: usize) -> GetLogEvents {
    GetLogEvents {
        group: "/g".into(),
        stream: "s".into(),
        start: None,
        end: None,
        limit: Some(limit),
        start_from_head,
        next_token: token,
    }
}

/// The variant and message a call failed with.
fn failure<T>(r: ServiceResult<T>) -> (&'static str, String) {
    let e = r.err().expect("the call should fail");
    let variant = match &e {
        ServiceError::Validation(_) => "Validation",
        ServiceError::NotFound(_) => "NotFound",
        ServiceError::AlreadyExists(_) => "AlreadyExists",
        ServiceError::InvalidParameter(_) => "InvalidParameter",
        ServiceError::LimitExceeded(_) => "LimitExceeded",
        ServiceError::InUse(_) => "InUse",
        ServiceError::Duplicate(_) => "Duplicate",
        ServiceError::Conflict(_) => "Conflict",
        ServiceError::Internal(_) => "Internal",
    };
    (variant, e.to_string())
}

fn messages(events: &[LogEvent]) -> Vec<String> {
    events.iter().map(|e| e.message.clone()).collect()
}

/// Ten events `m0`..`m9`, a second apart, ending now.
async fn ten_events(s: &Services) -> Vec<String> {
    let now = now_millis();
    let events: Vec<(i64, String)> = (0..10)
        .map(|i| (now - 10_000 + i * 1000, format!("m{i}")))
        .collect();
    s.put_log_events("/g", "s", events.clone()).await.unwrap();
    events.into_iter().map(|e| e.1).collect()
}

#[tokio::test]
async fn forward_paging_returns_every_event_once_then_the_same_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "s").await;
    let all = ten_events(&s).await;
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = s.get_log_events(get(token.clone(), true, 3)).await.unwrap();
        if page.events.is_empty() {
            assert_eq!(
                Some(page.next_forward_token),
                token,
                "the end returns the token passed in"
            );
            break;
        }
        seen.extend(messages(&page.events));
        token = Some(page.next_forward_token);
    }
    assert_eq!(seen, all);
    // The end token picks up events written later, as a tailer expects.
    let end = token.unwrap();
    s.put_log_events("/g", "s", vec![(now_millis(), "late".into())])
        .await
        .unwrap();
    let page = s.get_log_events(get(Some(end), true, 3)).await.unwrap();
    assert_eq!(messages(&page.events), ["late"]);
}

#[tokio::test]
async fn backward_paging_from_the_tail_returns_every_event_once_then_the_same_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "s").await;
    let all = ten_events(&s).await;
    let first = s.get_log_events(get(None, false, 4)).await.unwrap();
    assert_eq!(
        messages(&first.events),
        ["m6", "m7", "m8", "m9"],
        "no token, not from head: the last events"
    );
    let mut pages = vec![messages(&first.events)];
    let mut token = first.next_backward_token;
    loop {
        let page = s
            .get_log_events(get(Some(token.clone()), false, 4))
            .await
            .unwrap();
        if page.events.is_empty() {
            assert_eq!(page.next_backward_token, token);
            // Turning around at the start reads the stream from its first event.
            let fwd = s
                .get_log_events(get(Some(page.next_forward_token), true, 2))
                .await
                .unwrap();
            assert_eq!(messages(&fwd.events), ["m0", "m1"]);
            break;
        }
        pages.push(messages(&page.events));
        token = page.next_backward_token;
    }
    let seen: Vec<String> = pages.into_iter().rev().flatten().collect();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn tokens_of_an_empty_stream_and_time_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "s").await;
    let empty = s.get_log_events(get(None, false, 10)).await.unwrap();
    assert!(empty.events.is_empty());
    assert_eq!(empty.next_forward_token, format!("f/{}/s", "0".repeat(56)));
    assert_eq!(empty.next_backward_token, format!("b/{}/s", "0".repeat(56)));
    ten_events(&s).await;
    let page = s
        .get_log_events(get(Some(empty.next_forward_token), true, 100))
        .await
        .unwrap();
    assert_eq!(page.events.len(), 10);
    let (t2, t5) = (page.events[2].timestamp, page.events[5].timestamp);
    let ranged = GetLogEvents {
        start: Some(t2),
        end: Some(t5),
        ..get(None, true, 100)
    };
    assert_eq!(
        messages(&s.get_log_events(ranged).await.unwrap().events),
        ["m2", "m3", "m4"]
    );
    let bad = s.get_log_events(get(Some("f/123/s".into()), true, 1)).await;
    assert!(matches!(bad, Err(ServiceError::InvalidParameter(_))));
    let missing = s
        .get_log_events(GetLogEvents {
            stream: "nope".into(),
            ..get(None, true, 1)
        })
        .await;
    assert!(
        matches!(missing, Err(ServiceError::NotFound(m)) if m == "The specified log stream does not exist.")
    );
}

#[tokio::test]
async fn put_log_events_rejects_too_old_and_too_new_events_without_storing_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "s").await;
    let now = now_millis();
    let old = vec![
        (now - TOO_OLD_MS - 2 * HOUR_MS, "old-1".to_string()),
        (now - TOO_OLD_MS - HOUR_MS, "old-2".to_string()),
        (now - TOO_OLD_MS + HOUR_MS, "ok-1".to_string()),
    ];
    let r = s.put_log_events("/g", "s", old).await.unwrap();
    assert_eq!(
        r.rejected,
        Some(RejectedEvents {
            too_old_end: Some(2),
            too_new_start: None
        })
    );
    let new = vec![
        (now, "ok-2".to_string()),
        (now + 3 * HOUR_MS, "new".to_string()),
    ];
    let r2 = s.put_log_events("/g", "s", new).await.unwrap();
    assert_eq!(
        r2.rejected,
        Some(RejectedEvents {
            too_old_end: None,
            too_new_start: Some(1)
        })
    );
    assert_ne!(r.next_sequence_token, r2.next_sequence_token);
    let stored = s.get_log_events(get(None, true, 100)).await.unwrap();
    assert_eq!(messages(&stored.events), ["ok-1", "ok-2"]);

    let unordered = vec![(now, "b".to_string()), (now - 1, "a".to_string())];
    let e = s.put_log_events("/g", "s", unordered).await;
    let order = "Log events in a single PutLogEvents request must be in chronological order.";
    assert_eq!(failure(e), ("InvalidParameter", order.to_string()));
    let e = s
        .put_log_events("/g", "nope", vec![(now, "x".into())])
        .await;
    assert!(
        matches!(e, Err(ServiceError::NotFound(m)) if m == "The specified log stream does not exist.")
    );
}

#[test]
fn batches_reject_old_events_at_the_start_and_new_ones_at_the_end() {
    let now = 100 * DAY_MS;
    let batch =
        |ts: &[i64]| -> Vec<(i64, String)> { ts.iter().map(|t| (*t, "x".to_string())).collect() };
    let edge = now - TOO_OLD_MS;
    let (range, r) = check_batch(
        &batch(&[edge - 2, edge - 1, edge, now - TOO_OLD_MS + HOUR_MS]),
        now,
    )
    .unwrap();
    assert_eq!(
        (range, r),
        (
            2..4,
            RejectedEvents {
                too_old_end: Some(2),
                too_new_start: None
            }
        )
    );
    let (range, r) =
        check_batch(&batch(&[now, now + TOO_NEW_MS, now + TOO_NEW_MS + 1]), now).unwrap();
    assert_eq!(
        (range, r),
        (
            0..2,
            RejectedEvents {
                too_old_end: None,
                too_new_start: Some(2)
            }
        )
    );
    let (range, r) = check_batch(&batch(&[now + 3 * HOUR_MS]), now).unwrap();
    assert_eq!((range, r.too_new_start), (0..0, Some(0)));
    assert!(
        check_batch(&batch(&[now - 2 * DAY_MS, now]), now).is_err(),
        "more than 24 hours"
    );
    let big = vec![(now, "x".repeat(MAX_EVENT_SIZE))];
    assert!(check_batch(&big, now).is_err());
}

#[tokio::test]
async fn describe_log_streams_orders_by_last_event_time_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "a").await;
    for name in ["b", "c"] {
        s.create_log_stream("/g", name).await.unwrap();
    }
    let now = now_millis();
    s.put_log_events("/g", "a", vec![(now - 100, "x".into())])
        .await
        .unwrap();
    s.put_log_events("/g", "c", vec![(now - 200, "x".into())])
        .await
        .unwrap();
    s.put_log_events("/g", "b", vec![(now - 50, "x".into())])
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let p = DescribeLogStreams {
            group: "/g".into(),
            prefix: None,
            order: StreamOrder::LastEventTime,
            descending: true,
            limit: Some(2),
            next_token: token,
        };
        let page = s.describe_log_streams(p).await.unwrap();
        names.extend(page.items.iter().map(|s| s.name.clone()));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["b", "a", "c"]);
    let with_prefix = DescribeLogStreams {
        group: "/g".into(),
        prefix: Some("a".into()),
        order: StreamOrder::LastEventTime,
        descending: false,
        limit: None,
        next_token: None,
    };
    let e = s.describe_log_streams(with_prefix).await;
    let message = "Cannot order by LastEventTime with a logStreamNamePrefix.";
    assert_eq!(failure(e), ("InvalidParameter", message.to_string()));
}

#[tokio::test]
async fn filter_log_events_matches_patterns_across_streams_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "algo-1").await;
    s.create_log_stream("/g", "algo-2").await.unwrap();
    let now = now_millis();
    s.put_log_events(
        "/g",
        "algo-1",
        vec![
            (now - 40, "ERROR disk".into()),
            (now - 20, "INFO ok".into()),
        ],
    )
    .await
    .unwrap();
    s.put_log_events(
        "/g",
        "algo-2",
        vec![
            (now - 30, "ERROR oom".into()),
            (now - 10, "WARN slow".into()),
        ],
    )
    .await
    .unwrap();
    let filter = |pattern: &str, limit, token| FilterLogEvents {
        group: "/g".into(),
        stream_names: None,
        stream_prefix: None,
        start: None,
        end: None,
        pattern: Some(pattern.into()),
        limit: Some(limit),
        next_token: token,
    };
    let page = s
        .filter_log_events(filter("?ERROR ?WARN", 2, None))
        .await
        .unwrap();
    assert_eq!(messages(&page.items), ["ERROR disk", "ERROR oom"]);
    assert_eq!(page.items[1].stream, "algo-2");
    let rest = s
        .filter_log_events(filter("?ERROR ?WARN", 2, page.next_token))
        .await
        .unwrap();
    assert_eq!(messages(&rest.items), ["WARN slow"]);
    assert!(rest.next_token.is_none());
    let all = s.filter_log_events(filter("", 100, None)).await.unwrap();
    assert_eq!(all.items.len(), 4);
    let only = FilterLogEvents {
        stream_names: Some(vec!["algo-1".into()]),
        ..filter("-INFO", 100, None)
    };
    assert_eq!(
        messages(&s.filter_log_events(only).await.unwrap().items),
        ["ERROR disk"]
    );
    let both = FilterLogEvents {
        stream_names: Some(vec!["algo-1".into()]),
        stream_prefix: Some("algo".into()),
        ..filter("", 1, None)
    };
    assert!(matches!(
        s.filter_log_events(both).await,
        Err(ServiceError::InvalidParameter(_))
    ));
    let json = s
        .filter_log_events(filter("{ $.level = \"ERROR\" }", 1, None))
        .await;
    assert!(matches!(json, Err(ServiceError::InvalidParameter(_))));
}

#[tokio::test]
async fn append_log_events_creates_the_stream_and_sorts_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    let group = "/aws/sagemaker/TrainingJobs";
    s.append_log_events(
        group,
        "job/algo-1-1700000000",
        vec![(30, "c".into()), (10, "a".into()), (20, "b".into())],
    )
    .await
    .unwrap();
    s.append_log_events(group, "job/algo-1-1700000000", vec![(5, "first".into())])
        .await
        .unwrap();
    let page = s
        .get_log_events(GetLogEvents {
            group: group.into(),
            stream: "job/algo-1-1700000000".into(),
            ..get(None, true, 10)
        })
        .await
        .unwrap();
    assert_eq!(messages(&page.events), ["first", "a", "b", "c"]);
    s.ensure_log_stream(group, "job/algo-2-1700000000")
        .await
        .unwrap();
    let streams = s
        .describe_log_streams(DescribeLogStreams {
            group: group.into(),
            prefix: Some("job/".into()),
            order: StreamOrder::Name,
            descending: false,
            limit: None,
            next_token: None,
        })
        .await
        .unwrap();
    let first = &streams.items[0];
    assert_eq!(
        (first.first_event, first.last_event, first.upload_seq),
        (Some(5), Some(30), 2)
    );
    assert_eq!(streams.items[1].first_event, None);
    let groups = s
        .describe_log_groups(DescribeLogGroups::default())
        .await
        .unwrap();
    assert_eq!(groups.items[0].stored_bytes, 8);
}

#[tokio::test]
async fn deleting_a_group_deletes_its_streams_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    with_stream(&s, "/g", "s").await;
    let again = CreateLogGroup {
        name: "/g".into(),
        class: None,
        kms_key_id: None,
        deletion_protection: false,
        tags: vec![],
    };
    let e = s.create_log_group(again).await;
    assert_eq!(
        failure(e),
        (
            "AlreadyExists",
            "The specified log group already exists".to_string()
        )
    );
    s.delete_log_group("/g").await.unwrap();
    let e = s.get_log_events(get(None, true, 1)).await;
    assert!(
        matches!(e, Err(ServiceError::NotFound(m)) if m == "The specified log group does not exist.")
    );
    assert!(matches!(
        s.delete_log_stream("/g", "s").await,
        Err(ServiceError::NotFound(_))
    ));
}

#[tokio::test]
async fn describe_log_groups_pages_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let s = services(&dir);
    for i in 0..5 {
        let p = CreateLogGroup {
            name: format!("/g/{i}"),
            class: None,
            kms_key_id: None,
            deletion_protection: false,
            tags: vec![],
        };
        s.create_log_group(p).await.unwrap();
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let p = DescribeLogGroups {
            limit: Some(2),
            next_token: token,
            ..Default::default()
        };
        let page = s.describe_log_groups(p).await.unwrap();
        names.extend(page.items.into_iter().map(|g| g.name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names, ["/g/0", "/g/1", "/g/2", "/g/3", "/g/4"]);
}

#[test]
fn group_identifiers_accept_names_and_both_arn_forms() {
    assert_eq!(group_name_from_identifier("/aws/x"), "/aws/x");
    assert_eq!(
        group_name_from_identifier("arn:aws:logs:us-east-1:000000000000:log-group:/aws/x:*"),
        "/aws/x"
    );
    assert_eq!(
        group_name_from_identifier("arn:aws:logs:us-east-1:000000000000:log-group:/aws/x"),
        "/aws/x"
    );
    assert!(log_group_ref(Some("a"), Some("b")).is_err());
    assert!(log_group_ref(None, None).is_err());
    assert_eq!(sequence_token(0), None);
    assert_eq!(sequence_token(7).unwrap().len(), 56);
}
