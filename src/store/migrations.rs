//! Numbered schema migrations. `PRAGMA user_version` records how many have run; a newer sagebox
//! applies the missing ones to an older data directory, and an older sagebox refuses a newer one.
//! Append new migrations at the end; never edit one that has shipped.

use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// Columns every resource table shares (see `resources.rs`).
macro_rules! resource_table {
    ($name:literal) => {
        concat!(
            "CREATE TABLE ",
            $name,
            " (
                name     TEXT PRIMARY KEY COLLATE NOCASE,
                arn      TEXT NOT NULL UNIQUE,
                status   TEXT,
                created  REAL NOT NULL,
                modified REAL NOT NULL,
                request  TEXT NOT NULL,
                derived  TEXT NOT NULL DEFAULT '{}'
            );
            CREATE INDEX ",
            $name,
            "_created ON ",
            $name,
            " (created);"
        )
    };
}

const MIGRATIONS: &[&str] = &[
    // 1: hosting resources and tags
    concat!(
        resource_table!("models"),
        resource_table!("endpoint_configs"),
        "CREATE TABLE tags (
            arn   TEXT NOT NULL,
            key   TEXT NOT NULL,
            value TEXT NOT NULL,
            seq   INTEGER NOT NULL,
            PRIMARY KEY (arn, key)
        );"
    ),
    // 2: CloudWatch Logs
    "CREATE TABLE log_groups (
        name      TEXT PRIMARY KEY,
        created   INTEGER NOT NULL,
        retention INTEGER,
        class     TEXT NOT NULL DEFAULT 'STANDARD'
    );
    CREATE TABLE log_streams (
        log_group      TEXT NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
        name           TEXT NOT NULL,
        created        INTEGER NOT NULL,
        first_event    INTEGER,
        last_event     INTEGER,
        last_ingestion INTEGER,
        stored_bytes   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (log_group, name)
    );
    CREATE TABLE log_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        log_group  TEXT NOT NULL,
        log_stream TEXT NOT NULL,
        timestamp  INTEGER NOT NULL,
        ingestion  INTEGER NOT NULL,
        message    TEXT NOT NULL,
        FOREIGN KEY (log_group, log_stream) REFERENCES log_streams(log_group, name) ON DELETE CASCADE
    );
    CREATE INDEX log_events_stream_time ON log_events (log_group, log_stream, timestamp, id);
    CREATE INDEX log_events_group_time ON log_events (log_group, timestamp, id);",
    // 3: CloudWatch Logs bookkeeping: the group options CreateLogGroup takes, each stream's upload
    // count (its sequence token), and the index DescribeLogStreams orderBy=LastEventTime walks
    // (streams with no events sort first, as -1).
    "ALTER TABLE log_groups ADD COLUMN kms_key_id TEXT;
    ALTER TABLE log_groups ADD COLUMN deletion_protection INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE log_streams ADD COLUMN upload_seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX log_streams_last_event ON log_streams (log_group, ifnull(last_event, -1), name);",
    // 4: S3: buckets, objects (bytes live in blob files named by `blob`), multipart uploads.
    "CREATE TABLE buckets (
        name    TEXT PRIMARY KEY,
        created REAL NOT NULL,
        region  TEXT NOT NULL
    );
    CREATE TABLE objects (
        bucket        TEXT NOT NULL REFERENCES buckets(name),
        key           TEXT NOT NULL,
        blob          TEXT NOT NULL,
        size          INTEGER NOT NULL,
        etag          TEXT NOT NULL,
        last_modified REAL NOT NULL,
        meta          TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE uploads (
        upload_id TEXT PRIMARY KEY,
        bucket    TEXT NOT NULL REFERENCES buckets(name),
        key       TEXT NOT NULL,
        created   REAL NOT NULL,
        meta      TEXT NOT NULL
    );
    CREATE INDEX uploads_bucket_key ON uploads (bucket, key, created);
    CREATE TABLE upload_parts (
        upload_id   TEXT NOT NULL REFERENCES uploads(upload_id),
        part_number INTEGER NOT NULL,
        blob        TEXT NOT NULL,
        size        INTEGER NOT NULL,
        etag        TEXT NOT NULL,
        modified    REAL NOT NULL,
        checksums   TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number)
    );",
    // 5: training jobs
    resource_table!("training_jobs"),
    // 6: endpoints and batch transform jobs
    concat!(
        resource_table!("endpoints"),
        resource_table!("transform_jobs")
    ),
    // 7: notebook instances and their lifecycle configurations
    concat!(
        resource_table!("notebook_instances"),
        resource_table!("notebook_lifecycle_configs")
    ),
    // 8: parts written in place into their upload's shared file
    "ALTER TABLE upload_parts ADD COLUMN blob_offset INTEGER NOT NULL DEFAULT 0;",
    // 9: processing jobs and hyperparameter tuning jobs
    concat!(
        resource_table!("processing_jobs"),
        resource_table!("hyper_parameter_tuning_jobs")
    ),
    // 10: CloudWatch metrics and their data points (see metrics.rs)
    "CREATE TABLE metrics (
        id         INTEGER PRIMARY KEY,
        namespace  TEXT NOT NULL,
        name       TEXT NOT NULL,
        dimensions TEXT NOT NULL,
        last_put   REAL NOT NULL,
        UNIQUE (namespace, name, dimensions)
    );
    CREATE TABLE metric_data (
        metric_id    INTEGER NOT NULL REFERENCES metrics (id),
        timestamp    REAL NOT NULL,
        unit         TEXT NOT NULL,
        sample_count REAL NOT NULL,
        sum          REAL NOT NULL,
        minimum      REAL NOT NULL,
        maximum      REAL NOT NULL,
        distribution TEXT
    );
    CREATE INDEX metric_data_time ON metric_data (metric_id, timestamp);",
    // 11: the model registry (groups and their versioned packages) and pipelines with their
    // executions
    concat!(
        resource_table!("model_package_groups"),
        resource_table!("model_packages"),
        resource_table!("pipelines"),
        resource_table!("pipeline_executions")
    ),
    // 12: the stored-resource engine (service/stored): every family the model defines that has
    // no table of its own, keyed by family and identifying members; documents kept on a resource
    // (Put<Resource>Policy).
    "CREATE TABLE stored_resources (
        family      TEXT NOT NULL,
        key         TEXT NOT NULL COLLATE NOCASE,
        arn         TEXT NOT NULL UNIQUE,
        status      TEXT,
        next_status TEXT,
        next_at     REAL,
        created     REAL NOT NULL,
        modified    REAL NOT NULL,
        request     TEXT NOT NULL,
        derived     TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (family, key)
    );
    CREATE INDEX stored_resources_created ON stored_resources (family, created);
    CREATE TABLE stored_documents (
        arn  TEXT NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (arn, name)
    );",
    // 13: experiments: associations between resources (a trial component and its trials;
    // lineage edges), and the metrics logged against trial components
    "CREATE TABLE associations (
        source      TEXT NOT NULL,
        destination TEXT NOT NULL,
        type        TEXT,
        created     REAL NOT NULL,
        PRIMARY KEY (source, destination)
    );
    CREATE INDEX associations_destination ON associations (destination);
    CREATE TABLE trial_metrics (
        component TEXT NOT NULL COLLATE NOCASE,
        name      TEXT NOT NULL,
        timestamp REAL NOT NULL,
        step      INTEGER,
        value     REAL NOT NULL
    );
    CREATE INDEX trial_metrics_component ON trial_metrics (component, name, timestamp);",
    // 14: the Feature Store's online store (store/features.rs): the latest record of each record
    // identifier of a feature group, kept as the Record list PutRecord sent.
    "CREATE TABLE feature_records (
        feature_group TEXT NOT NULL COLLATE NOCASE,
        record_id     TEXT NOT NULL,
        event_time    REAL NOT NULL,
        expires_at    REAL,
        deleted       INTEGER NOT NULL DEFAULT 0,
        record        TEXT NOT NULL,
        PRIMARY KEY (feature_group, record_id)
    );",
    // 15: log events name their group and stream by number (`gid`, `sid`) instead of by both
    // names: a row and its two index entries shrink by the names' bytes (about 60 of 100 bytes
    // per stored line of a training job), and so does the work of each insert. Event ids, and
    // the next id AUTOINCREMENT hands out, are kept.
    "ALTER TABLE log_groups ADD COLUMN gid INTEGER;
    UPDATE log_groups SET gid = rowid;
    CREATE UNIQUE INDEX log_groups_gid ON log_groups (gid);
    ALTER TABLE log_streams ADD COLUMN sid INTEGER;
    UPDATE log_streams SET sid = rowid;
    CREATE UNIQUE INDEX log_streams_sid ON log_streams (sid);
    CREATE TABLE log_events_by_id (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        gid       INTEGER NOT NULL,
        sid       INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        ingestion INTEGER NOT NULL,
        message   TEXT NOT NULL
    );
    INSERT INTO log_events_by_id (id, gid, sid, timestamp, ingestion, message)
        SELECT e.id, g.gid, s.sid, e.timestamp, e.ingestion, e.message
        FROM log_events e
        JOIN log_groups g ON g.name = e.log_group
        JOIN log_streams s ON s.log_group = e.log_group AND s.name = e.log_stream
        ORDER BY e.id;
    UPDATE sqlite_sequence SET seq = max(seq, ifnull(
        (SELECT seq FROM sqlite_sequence WHERE name = 'log_events'), 0))
        WHERE name = 'log_events_by_id';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'log_events_by_id', seq FROM sqlite_sequence WHERE name = 'log_events'
        AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'log_events_by_id');
    DROP TABLE log_events;
    ALTER TABLE log_events_by_id RENAME TO log_events;
    CREATE INDEX log_events_stream_time ON log_events (sid, timestamp, id);
    CREATE INDEX log_events_group_time ON log_events (gid, timestamp, id);",
];

pub fn apply(conn: &mut Connection) -> StoreResult<()> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_schemas() {
        let mut c = Connection::open_in_memory().unwrap();
        apply(&mut c).unwrap();
        apply(&mut c).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        c.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(
            apply(&mut c),
            Err(StoreError::TooNew { found: 999, .. })
        ));
    }
}

#[cfg(test)]
mod log_ids {
    use super::*;
    use crate::store::logs::{
        EventBound, EventQuery, FilterQuery, StreamSelection, append, delete_stream, filter_events,
        stream_events,
    };

    /// A store written by the schema before migration 15 (events keyed by names) keeps its
    /// events, their ids and AUTOINCREMENT's high mark through it.
    #[test]
    fn log_events_keep_their_ids_when_they_move_to_stream_numbers() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..14] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 14).unwrap();
        c.execute_batch(
            "INSERT INTO log_groups (name, created) VALUES ('/a', 1), ('/b', 1);
             INSERT INTO log_streams (log_group, name, created) VALUES ('/a', 's1', 1), ('/a', 's2', 1), ('/b', 's1', 1);
             INSERT INTO log_events (log_group, log_stream, timestamp, ingestion, message) VALUES
                ('/a', 's1', 10, 9, 'one'), ('/b', 's1', 11, 9, 'two'), ('/a', 's2', 12, 9, 'three'),
                ('/a', 's1', 13, 9, 'four'), ('/a', 's2', 14, 9, 'gone');
             DELETE FROM log_events WHERE message = 'gone';",
        )
        .unwrap();
        apply(&mut c).unwrap();

        let page = |stream: &str| {
            let q = EventQuery {
                start: None,
                end: None,
                bound: EventBound::Head,
                limit: 10,
            };
            let events = stream_events(&c, "/a", stream, &q).unwrap().unwrap();
            events
                .into_iter()
                .map(|e| (e.id, e.stream, e.message))
                .collect::<Vec<_>>()
        };
        let s = |v: &str| v.to_string();
        assert_eq!(
            page("s1"),
            [(1, s("s1"), s("one")), (4, s("s1"), s("four"))]
        );
        assert_eq!(page("s2"), [(3, s("s2"), s("three"))]);
        let q = FilterQuery {
            streams: StreamSelection::All,
            start: None,
            end: None,
            after: None,
            limit: 10,
            scan_limit: 100,
        };
        let all = filter_events(&c, "/a", &q, &|_| true).unwrap().unwrap();
        let found: Vec<_> = all
            .events
            .iter()
            .map(|e| (e.id, e.stream.as_str()))
            .collect();
        assert_eq!(found, [(1, "s1"), (3, "s2"), (4, "s1")]);
        let q = FilterQuery {
            streams: StreamSelection::Names(vec![s("s2")]),
            ..q
        };
        let s2 = filter_events(&c, "/a", &q, &|_| true).unwrap().unwrap();
        assert_eq!(s2.events.len(), 1);

        // The next event's id follows the deleted one's (5), not the highest left (4).
        let next = append(&c, "/b", "s1", &[(20, s("new"))], 30)
            .unwrap()
            .unwrap();
        assert_eq!(next, 1);
        let id: i64 = c
            .query_row("SELECT id FROM log_events WHERE message = 'new'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(id, 6);
        // Deleting a stream takes its events only.
        delete_stream(&mut c, "/a", "s1").unwrap().unwrap();
        let left: i64 = c
            .query_row("SELECT count(*) FROM log_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 3);
    }
}
