//! Store-level tests of the Logs tables, on an in-memory database.

use super::*;

fn db() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    c.pragma_update(None, "foreign_keys", "ON").unwrap();
    crate::store::migrations::apply(&mut c).unwrap();
    c
}

fn new_group(name: &str) -> NewLogGroup {
    NewLogGroup {
        name: name.into(),
        created: 1,
        class: "STANDARD".into(),
        kms_key_id: None,
        deletion_protection: false,
        arn: format!("arn:aws:logs:us-east-1:000000000000:log-group:{name}"),
        tags: vec![("team".into(), "ml".into())],
    }
}

fn put(c: &Connection, group: &str, stream: &str, events: &[(i64, &str)]) -> i64 {
    let events: Vec<(i64, String)> = events.iter().map(|(t, m)| (*t, m.to_string())).collect();
    append(c, group, stream, &events, 1000).unwrap().unwrap()
}

fn query(bound: EventBound, limit: usize) -> EventQuery {
    EventQuery {
        start: None,
        end: None,
        bound,
        limit,
    }
}

fn messages(events: &[LogEvent]) -> Vec<&str> {
    events.iter().map(|e| e.message.as_str()).collect()
}

#[test]
fn group_and_stream_names_are_unique_and_streams_need_their_group() {
    let mut c = db();
    assert_eq!(create_group(&mut c, &new_group("/a")).unwrap(), Ok(()));
    assert_eq!(
        create_group(&mut c, &new_group("/a")).unwrap(),
        Err(Refusal::GroupExists)
    );
    assert_eq!(create_stream(&c, "/a", "s", 2).unwrap(), Ok(()));
    assert_eq!(
        create_stream(&c, "/a", "s", 2).unwrap(),
        Err(Refusal::StreamExists)
    );
    assert_eq!(
        create_stream(&c, "/b", "s", 2).unwrap(),
        Err(Refusal::GroupNotFound)
    );
    // Names are case-sensitive in CloudWatch Logs.
    assert_eq!(create_group(&mut c, &new_group("/A")).unwrap(), Ok(()));
}

#[test]
fn deleting_a_group_removes_its_streams_events_and_tags() {
    let mut c = db();
    let g = new_group("/g");
    create_group(&mut c, &g).unwrap().unwrap();
    create_stream(&c, "/g", "s", 2).unwrap().unwrap();
    put(&c, "/g", "s", &[(5, "x")]);
    assert_eq!(delete_group(&mut c, "/g", &g.arn).unwrap(), Ok(()));
    assert_eq!(
        delete_group(&mut c, "/g", &g.arn).unwrap(),
        Err(Refusal::GroupNotFound)
    );
    let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM log_events"), 0);
    assert_eq!(count("SELECT count(*) FROM log_streams"), 0);
    assert_eq!(count("SELECT count(*) FROM tags"), 0);
}

#[test]
fn protected_groups_are_not_deleted() {
    let mut c = db();
    let g = NewLogGroup {
        deletion_protection: true,
        ..new_group("/p")
    };
    create_group(&mut c, &g).unwrap().unwrap();
    assert_eq!(
        delete_group(&mut c, "/p", &g.arn).unwrap(),
        Err(Refusal::DeletionProtected)
    );
}

#[test]
fn appending_keeps_the_stream_summary() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    create_stream(&c, "/g", "s", 2).unwrap().unwrap();
    assert_eq!(put(&c, "/g", "s", &[(50, "abc"), (60, "de")]), 1);
    assert_eq!(put(&c, "/g", "s", &[(40, "f")]), 2);
    assert_eq!(put(&c, "/g", "s", &[]), 3);
    let s = stream(&c, "/g", "s").unwrap().unwrap();
    assert_eq!(
        (s.first_event, s.last_event, s.last_ingestion),
        (Some(40), Some(60), Some(1000))
    );
    assert_eq!((s.stored_bytes, s.upload_seq), (6, 3));
    assert_eq!(group(&c, "/g").unwrap().unwrap().stored_bytes, 6);
    let missing = append(&c, "/g", "nope", &[], 1).unwrap();
    assert_eq!(missing, Err(Refusal::StreamNotFound));
    assert_eq!(
        append(&c, "/x", "nope", &[], 1).unwrap(),
        Err(Refusal::GroupNotFound)
    );
}

#[test]
fn a_large_append_stores_every_event_in_order_with_ascending_ids() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    create_stream(&c, "/g", "s", 2).unwrap().unwrap();
    // Two whole multi-row INSERTs and a remainder; equal timestamps keep the batch's order.
    let texts: Vec<String> = (0..INSERT_ROWS * 2 + 5).map(|i| format!("m{i}")).collect();
    let events: Vec<(i64, &str)> = texts.iter().map(|m| (7, m.as_str())).collect();
    put(&c, "/g", "s", &events);
    let got = stream_events(&c, "/g", "s", &query(EventBound::Head, 1000))
        .unwrap()
        .unwrap();
    assert_eq!(messages(&got), texts);
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    assert!(got.iter().all(|e| e.ingestion == 1000 && e.stream == "s"));
    let s = stream(&c, "/g", "s").unwrap().unwrap();
    let bytes: usize = texts.iter().map(String::len).sum();
    assert_eq!(s.stored_bytes, bytes as i64);
}

#[test]
fn stream_pages_read_from_either_end_in_ascending_order() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    create_stream(&c, "/g", "s", 2).unwrap().unwrap();
    // Out-of-order timestamps across batches: the stream reads in timestamp order.
    put(&c, "/g", "s", &[(30, "c"), (40, "d"), (50, "e")]);
    put(&c, "/g", "s", &[(10, "a"), (20, "b")]);
    let get = |q: EventQuery| stream_events(&c, "/g", "s", &q).unwrap().unwrap();
    assert_eq!(messages(&get(query(EventBound::Head, 2))), ["a", "b"]);
    assert_eq!(messages(&get(query(EventBound::Tail, 2))), ["d", "e"]);
    let tail = get(query(EventBound::Tail, 2));
    assert_eq!(
        messages(&get(query(EventBound::Before(tail[0].key()), 10))),
        ["a", "b", "c"]
    );
    assert_eq!(
        messages(&get(query(EventBound::After(tail[0].key()), 10))),
        ["e"]
    );
    let ranged = EventQuery {
        start: Some(20),
        end: Some(40),
        ..query(EventBound::Head, 10)
    };
    assert_eq!(messages(&get(ranged)), ["b", "c"]);
    let q = query(EventBound::Head, 1);
    assert_eq!(
        stream_events(&c, "/g", "t", &q).unwrap(),
        Err(Refusal::StreamNotFound)
    );
}

#[test]
fn streams_order_by_last_event_time_with_empty_streams_first() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    for s in ["a", "b", "c", "d"] {
        create_stream(&c, "/g", s, 2).unwrap().unwrap();
    }
    put(&c, "/g", "a", &[(30, "x")]);
    put(&c, "/g", "b", &[(10, "x")]);
    put(&c, "/g", "c", &[(20, "x")]);
    for (descending, want) in [(false, ["d", "b", "c", "a"]), (true, ["a", "c", "b", "d"])] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let q = StreamQuery {
                prefix: None,
                order: StreamOrder::LastEventTime,
                descending,
                after,
                limit: 1,
            };
            let page = list_streams(&c, "/g", &q).unwrap().unwrap();
            let last = &page[0];
            seen.push(last.name.clone());
            if page.len() <= 1 {
                break;
            }
            after = Some(StreamCursor::LastEvent(
                last.last_event.unwrap_or(-1),
                last.name.clone(),
            ));
        }
        assert_eq!(seen, want);
    }
}

#[test]
fn stream_prefixes_and_name_order() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    for s in ["job/algo-1", "job/algo-2", "jobx", "other"] {
        create_stream(&c, "/g", s, 2).unwrap().unwrap();
    }
    let q = StreamQuery {
        prefix: Some("job/".into()),
        order: StreamOrder::Name,
        descending: true,
        after: None,
        limit: 10,
    };
    let names: Vec<_> = list_streams(&c, "/g", &q)
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["job/algo-2", "job/algo-1"]);
}

#[test]
fn group_listing_filters_by_prefix_substring_and_class() {
    let mut c = db();
    for n in [
        "/aws/sagemaker/TrainingJobs",
        "/aws/sagemaker/Endpoints/x",
        "/aws/lambda/f",
        "/app",
    ] {
        create_group(&mut c, &new_group(n)).unwrap().unwrap();
    }
    let names = |q: GroupQuery| -> Vec<String> {
        list_groups(&c, &GroupQuery { limit: 50, ..q })
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect()
    };
    let prefix = names(GroupQuery {
        prefix: Some("/aws/sagemaker/".into()),
        ..Default::default()
    });
    assert_eq!(
        prefix,
        ["/aws/sagemaker/Endpoints/x", "/aws/sagemaker/TrainingJobs"]
    );
    assert_eq!(
        names(GroupQuery {
            contains: Some("lambda".into()),
            ..Default::default()
        }),
        ["/aws/lambda/f"]
    );
    assert!(
        names(GroupQuery {
            contains: Some("LAMBDA".into()),
            ..Default::default()
        })
        .is_empty()
    );
    assert!(
        names(GroupQuery {
            class: Some("INFREQUENT_ACCESS".into()),
            ..Default::default()
        })
        .is_empty()
    );
    let after = names(GroupQuery {
        after: Some("/aws/lambda/f".into()),
        ..Default::default()
    });
    assert_eq!(
        after,
        ["/aws/sagemaker/Endpoints/x", "/aws/sagemaker/TrainingJobs"]
    );
}

#[test]
fn filtering_scans_the_group_in_time_order_and_resumes() {
    let mut c = db();
    create_group(&mut c, &new_group("/g")).unwrap().unwrap();
    for s in ["s1", "s2"] {
        create_stream(&c, "/g", s, 2).unwrap().unwrap();
    }
    put(
        &c,
        "/g",
        "s1",
        &[(10, "keep 1"), (30, "drop"), (50, "keep 3")],
    );
    put(&c, "/g", "s2", &[(20, "keep 2"), (40, "keep 4")]);
    let keep = |m: &str| m.starts_with("keep");
    let q = |after, limit, scan_limit| FilterQuery {
        streams: StreamSelection::All,
        start: None,
        end: None,
        after,
        limit,
        scan_limit,
    };
    let page = filter_events(&c, "/g", &q(None, 2, 100), &keep)
        .unwrap()
        .unwrap();
    assert_eq!(messages(&page.events), ["keep 1", "keep 2"]);
    let rest = filter_events(&c, "/g", &q(page.resume_after, 2, 100), &keep)
        .unwrap()
        .unwrap();
    assert_eq!(messages(&rest.events), ["keep 4", "keep 3"]);
    assert_eq!(rest.resume_after, None);
    // A scan cap answers early with a position to resume from.
    let capped = filter_events(&c, "/g", &q(None, 10, 3), &keep)
        .unwrap()
        .unwrap();
    assert_eq!(messages(&capped.events), ["keep 1", "keep 2"]);
    let capped_rest = filter_events(&c, "/g", &q(capped.resume_after, 10, 3), &keep)
        .unwrap()
        .unwrap();
    assert_eq!(messages(&capped_rest.events), ["keep 4", "keep 3"]);
    // A cap reached on the last event leaves nothing to resume.
    let exact = filter_events(&c, "/g", &q(None, 10, 5), &keep)
        .unwrap()
        .unwrap();
    assert_eq!(exact.events.len(), 4);
    assert_eq!(exact.resume_after, None);
    let only_s2 = FilterQuery {
        streams: StreamSelection::Prefix("s2".into()),
        ..q(None, 10, 100)
    };
    let page = filter_events(&c, "/g", &only_s2, &keep).unwrap().unwrap();
    assert_eq!(messages(&page.events), ["keep 2", "keep 4"]);
}

#[test]
fn event_reads_use_the_indexes() {
    let c = db();
    let plan = |sql: &str| -> String {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let get = plan(
        "SELECT id FROM log_events WHERE sid = 1 AND timestamp >= 0
         AND (timestamp, id) < (5, 6) ORDER BY timestamp DESC, id DESC LIMIT 10",
    );
    assert!(
        get.contains("log_events_stream_time") && !get.contains("TEMP B-TREE"),
        "{get}"
    );
    let streams = plan(
        "SELECT name FROM log_streams WHERE log_group = 'g' AND (ifnull(last_event, -1), name) > (1, 'x')
         ORDER BY ifnull(last_event, -1), name LIMIT 5",
    );
    assert!(
        streams.contains("log_streams_last_event") && !streams.contains("TEMP B-TREE"),
        "{streams}"
    );
}

#[test]
fn prefix_upper_bounds_every_extension() {
    assert_eq!(prefix_upper("ab").as_deref(), Some("ac"));
    assert_eq!(prefix_upper("a\u{10FFFF}").as_deref(), Some("b"));
    assert_eq!(prefix_upper(""), None);
}
