//! CloudWatch Logs tables: log groups, their streams, and the streams' events (migrations 2, 3
//! and 15).
//!
//! Every time here is epoch milliseconds, as CloudWatch Logs speaks. Groups and streams have
//! numbers (`gid`, `sid`), and an event names its group and stream by them, not by name. An
//! event's place in a stream is its [`EventKey`] (timestamp, then insertion id), which is also
//! the order of the `(sid, timestamp, id)` and `(gid, timestamp, id)` indexes, so reading a page
//! of a stream or a time slice of a group is one index range walk. A stream's summary
//! (first/last event time, last ingestion, bytes, upload count) is kept in its row and changed in
//! the same transaction as the events it summarises.
//!
//! Operations that can be refused for a reason the caller reports (no such group, name taken)
//! return `Ok(Err(Refusal))`; `Err(StoreError)` is reserved for the database failing.

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{Store, StoreResult};

mod events;
pub use events::{filter_events, stream_events};

#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub name: String,
    pub created: i64,
    pub retention_days: Option<i64>,
    pub class: String,
    pub kms_key_id: Option<String>,
    pub deletion_protection: bool,
    /// The sum of the group's streams' message bytes.
    pub stored_bytes: i64,
}

/// What CreateLogGroup stores: the group and its tags (keyed by `arn`) in one transaction.
#[derive(Debug, Clone)]
pub struct NewLogGroup {
    pub name: String,
    pub created: i64,
    pub class: String,
    pub kms_key_id: Option<String>,
    pub deletion_protection: bool,
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogStream {
    pub name: String,
    pub created: i64,
    pub first_event: Option<i64>,
    pub last_event: Option<i64>,
    pub last_ingestion: Option<i64>,
    pub stored_bytes: i64,
    /// How many PutLogEvents batches the stream has taken; its sequence token derives from it.
    pub upload_seq: i64,
}

/// An event's position: streams and groups are ordered by timestamp, then by insertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    pub timestamp: i64,
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub id: i64,
    pub stream: String,
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
}

impl LogEvent {
    pub fn key(&self) -> EventKey {
        EventKey {
            timestamp: self.timestamp,
            id: self.id,
        }
    }
}

/// Why an operation was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    GroupNotFound,
    StreamNotFound,
    GroupExists,
    StreamExists,
    DeletionProtected,
}

pub type Outcome<T> = StoreResult<Result<T, Refusal>>;

#[derive(Debug, Clone, Default)]
pub struct GroupQuery {
    pub prefix: Option<String>,
    /// Case-sensitive substring (`logGroupNamePattern`).
    pub contains: Option<String>,
    pub class: Option<String>,
    pub names: Option<Vec<String>>,
    /// Continue after this name.
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    LastEventTime,
}

/// Where the previous page of streams stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCursor {
    Name(String),
    /// The last event time (-1 for a stream without events) and name.
    LastEvent(i64, String),
}

#[derive(Debug, Clone)]
pub struct StreamQuery {
    pub prefix: Option<String>,
    pub order: StreamOrder,
    pub descending: bool,
    pub after: Option<StreamCursor>,
    pub limit: usize,
}

/// Which end of a stream a page of events is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventBound {
    /// The first events.
    Head,
    /// The last events.
    Tail,
    /// The first events after this key.
    After(EventKey),
    /// The last events before this key.
    Before(EventKey),
}

#[derive(Debug, Clone)]
pub struct EventQuery {
    /// Inclusive.
    pub start: Option<i64>,
    /// Exclusive.
    pub end: Option<i64>,
    pub bound: EventBound,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub enum StreamSelection {
    All,
    Names(Vec<String>),
    Prefix(String),
}

#[derive(Debug, Clone)]
pub struct FilterQuery {
    pub streams: StreamSelection,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub after: Option<EventKey>,
    /// Matching events to return.
    pub limit: usize,
    /// Events to examine before answering with what was found so far, so one call cannot hold
    /// the connection for a whole group's history.
    pub scan_limit: usize,
}

#[derive(Debug, Clone)]
pub struct FilterScan {
    pub events: Vec<LogEvent>,
    /// Set when the scan stopped before the end: where the next page continues.
    pub resume_after: Option<EventKey>,
}

/// Pushes a bound value and returns its `?N` placeholder.
fn bind(args: &mut Vec<Sql>, v: impl Into<Sql>) -> String {
    args.push(v.into());
    format!("?{}", args.len())
}

/// The smallest string greater than every string starting with `prefix`, if there is one: the
/// upper end of an index range for a prefix search.
fn prefix_upper(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `AND <column> starts with <prefix>`, as an index-friendly range plus an exact check.
fn prefix_clause(args: &mut Vec<Sql>, column: &str, prefix: &str) -> String {
    let p = bind(args, prefix.to_string());
    let mut sql = format!(" AND {column} >= {p} AND substr({column}, 1, length({p})) = {p}");
    if let Some(upper) = prefix_upper(prefix) {
        sql += &format!(" AND {column} < {}", bind(args, upper));
    }
    sql
}

fn group_exists(conn: &Connection, name: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM log_groups WHERE name = ?1")?
        .exists([name])?)
}

/// The refusal for a stream that was not found: its group may be missing too.
fn missing_stream(conn: &Connection, group: &str) -> StoreResult<Refusal> {
    Ok(if group_exists(conn, group)? {
        Refusal::StreamNotFound
    } else {
        Refusal::GroupNotFound
    })
}

const GROUP_COLUMNS: &str =
    "g.name, g.created, g.retention, g.class, g.kms_key_id, g.deletion_protection,
    (SELECT ifnull(sum(s.stored_bytes), 0) FROM log_streams s WHERE s.log_group = g.name)";

fn group_from_row(r: &Row<'_>) -> rusqlite::Result<LogGroup> {
    Ok(LogGroup {
        name: r.get(0)?,
        created: r.get(1)?,
        retention_days: r.get(2)?,
        class: r.get(3)?,
        kms_key_id: r.get(4)?,
        deletion_protection: r.get(5)?,
        stored_bytes: r.get(6)?,
    })
}

const STREAM_COLUMNS: &str =
    "name, created, first_event, last_event, last_ingestion, stored_bytes, upload_seq";

fn stream_from_row(r: &Row<'_>) -> rusqlite::Result<LogStream> {
    Ok(LogStream {
        name: r.get(0)?,
        created: r.get(1)?,
        first_event: r.get(2)?,
        last_event: r.get(3)?,
        last_ingestion: r.get(4)?,
        stored_bytes: r.get(5)?,
        upload_seq: r.get(6)?,
    })
}

pub fn create_group(conn: &mut Connection, g: &NewLogGroup) -> Outcome<()> {
    let tx = conn.transaction()?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO log_groups (name, created, class, kms_key_id, deletion_protection, gid)
             VALUES (?1, ?2, ?3, ?4, ?5, (SELECT ifnull(max(gid), 0) + 1 FROM log_groups)) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![
            g.name,
            g.created,
            g.class,
            g.kms_key_id,
            g.deletion_protection
        ])?;
    if inserted == 0 {
        return Ok(Err(Refusal::GroupExists));
    }
    super::tags::put(&tx, &g.arn, &g.tags)?;
    tx.commit()?;
    Ok(Ok(()))
}

pub fn group(conn: &Connection, name: &str) -> StoreResult<Option<LogGroup>> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM log_groups g WHERE g.name = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([name], group_from_row)
        .optional()?)
}

/// Deletes the group with its streams, events and tags (`arn` keys the tags).
pub fn delete_group(conn: &mut Connection, name: &str, arn: &str) -> Outcome<()> {
    let tx = conn.transaction()?;
    let protected: Option<bool> = tx
        .prepare_cached("SELECT deletion_protection FROM log_groups WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match protected {
        None => return Ok(Err(Refusal::GroupNotFound)),
        Some(true) => return Ok(Err(Refusal::DeletionProtected)),
        Some(false) => {}
    }
    // Explicit deletes rather than relying on ON DELETE CASCADE, which needs the foreign_keys
    // pragma on the connection.
    tx.prepare_cached(
        "DELETE FROM log_events WHERE gid = (SELECT gid FROM log_groups WHERE name = ?1)",
    )?
    .execute([name])?;
    tx.prepare_cached("DELETE FROM log_streams WHERE log_group = ?1")?
        .execute([name])?;
    tx.prepare_cached("DELETE FROM log_groups WHERE name = ?1")?
        .execute([name])?;
    super::tags::delete_all(&tx, arn)?;
    tx.commit()?;
    Ok(Ok(()))
}

pub fn create_stream(conn: &Connection, group: &str, name: &str, created: i64) -> Outcome<()> {
    if !group_exists(conn, group)? {
        return Ok(Err(Refusal::GroupNotFound));
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO log_streams (log_group, name, created, sid) VALUES (?1, ?2, ?3, (SELECT ifnull(max(sid), 0) + 1 FROM log_streams))
             ON CONFLICT (log_group, name) DO NOTHING",
        )?
        .execute(params![group, name, created])?;
    Ok(if inserted == 0 {
        Err(Refusal::StreamExists)
    } else {
        Ok(())
    })
}

/// Creates the group and the stream where they are missing.
pub fn ensure_stream(conn: &Connection, group: &str, name: &str, created: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO log_groups (name, created, gid) VALUES (?1, ?2, (SELECT ifnull(max(gid), 0) + 1 FROM log_groups)) ON CONFLICT DO NOTHING",
    )?
    .execute(params![group, created])?;
    conn.prepare_cached(
        "INSERT INTO log_streams (log_group, name, created, sid) VALUES (?1, ?2, ?3, (SELECT ifnull(max(sid), 0) + 1 FROM log_streams))
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![group, name, created])?;
    Ok(())
}

pub fn stream(conn: &Connection, group: &str, name: &str) -> StoreResult<Option<LogStream>> {
    let sql =
        format!("SELECT {STREAM_COLUMNS} FROM log_streams WHERE log_group = ?1 AND name = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([group, name], stream_from_row)
        .optional()?)
}

pub fn delete_stream(conn: &mut Connection, group: &str, name: &str) -> Outcome<()> {
    let tx = conn.transaction()?;
    let sid: Option<i64> = tx
        .prepare_cached("DELETE FROM log_streams WHERE log_group = ?1 AND name = ?2 RETURNING sid")?
        .query_row([group, name], |r| r.get(0))
        .optional()?;
    let Some(sid) = sid else {
        return Ok(Err(missing_stream(&tx, group)?));
    };
    tx.prepare_cached("DELETE FROM log_events WHERE sid = ?1")?
        .execute([sid])?;
    tx.commit()?;
    Ok(Ok(()))
}

/// Appends events (already in timestamp order) to an existing stream and updates its summary;
/// runs inside the caller's transaction. Counts one upload even when `events` is empty (every
/// event of a batch may have been rejected) and returns the stream's new upload count.
pub fn append(
    conn: &Connection,
    group: &str,
    name: &str,
    events: &[(i64, String)],
    ingestion: i64,
) -> Outcome<i64> {
    let first = events.iter().map(|e| e.0).min();
    let last = events.iter().map(|e| e.0).max();
    let bytes: i64 = events.iter().map(|e| e.1.len() as i64).sum();
    let seq: Option<(i64, i64, i64)> = conn
        .prepare_cached(
            "UPDATE log_streams SET
                first_event    = CASE WHEN ?3 IS NULL THEN first_event ELSE min(ifnull(first_event, ?3), ?3) END,
                last_event     = CASE WHEN ?4 IS NULL THEN last_event ELSE max(ifnull(last_event, ?4), ?4) END,
                last_ingestion = CASE WHEN ?3 IS NULL THEN last_ingestion ELSE ?5 END,
                stored_bytes   = stored_bytes + ?6,
                upload_seq     = upload_seq + 1
             WHERE log_group = ?1 AND name = ?2
             RETURNING upload_seq, sid, (SELECT gid FROM log_groups WHERE name = ?1)",
        )?
        .query_row(params![group, name, first, last, ingestion, bytes], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((seq, sid, gid)) = seq else {
        return Ok(Err(missing_stream(conn, group)?));
    };
    // Whole INSERTs of `INSERT_ROWS` events, then the rest one at a time.
    let (full, rest) = events.split_at(events.len() - events.len() % INSERT_ROWS);
    for (sql, chunks) in [
        (&*INSERT_MANY, full.chunks(INSERT_ROWS)),
        (&*INSERT_ONE, rest.chunks(1)),
    ] {
        let mut insert = conn.prepare_cached(sql)?;
        for chunk in chunks {
            let mut args: Vec<&dyn rusqlite::ToSql> = vec![&gid, &sid, &ingestion];
            for (timestamp, message) in chunk {
                args.push(timestamp);
                args.push(message);
            }
            insert.execute(args.as_slice())?;
        }
    }
    Ok(Ok(seq))
}

/// Events one INSERT of an append carries: a statement's own work (AUTOINCREMENT's counter is
/// read and written back once per statement) is shared by this many rows.
const INSERT_ROWS: usize = 32;

/// The INSERT of `rows` events, in order (their ids ascend as they are listed): `?1` group, `?2`
/// stream, `?3` ingestion time, then each event's timestamp and message.
fn insert_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| format!("(?1, ?2, ?3, ?{}, ?{})", 4 + 2 * i, 5 + 2 * i))
        .collect();
    format!(
        "INSERT INTO log_events (gid, sid, ingestion, timestamp, message) VALUES {}",
        values.join(", ")
    )
}

static INSERT_MANY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| insert_sql(INSERT_ROWS));
static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| insert_sql(1));

/// One page of groups by name, asking for `limit + 1` so the caller can tell whether more follow.
pub fn list_groups(conn: &Connection, q: &GroupQuery) -> StoreResult<Vec<LogGroup>> {
    let mut args = Vec::new();
    let mut sql = format!("SELECT {GROUP_COLUMNS} FROM log_groups g WHERE 1=1");
    if let Some(p) = &q.prefix {
        sql += &prefix_clause(&mut args, "g.name", p);
    }
    if let Some(s) = &q.contains {
        sql += &format!(" AND instr(g.name, {}) > 0", bind(&mut args, s.clone()));
    }
    if let Some(c) = &q.class {
        sql += &format!(" AND g.class = {}", bind(&mut args, c.clone()));
    }
    if let Some(names) = &q.names {
        let list: Vec<String> = names.iter().map(|n| bind(&mut args, n.clone())).collect();
        sql += &format!(" AND g.name IN ({})", list.join(", "));
    }
    if let Some(after) = &q.after {
        sql += &format!(" AND g.name > {}", bind(&mut args, after.clone()));
    }
    sql += &format!(" ORDER BY g.name LIMIT {}", q.limit + 1);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), group_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of a group's streams (`limit + 1` rows, as `list_groups`).
pub fn list_streams(conn: &Connection, group: &str, q: &StreamQuery) -> Outcome<Vec<LogStream>> {
    if !group_exists(conn, group)? {
        return Ok(Err(Refusal::GroupNotFound));
    }
    let mut args = Vec::new();
    let g = bind(&mut args, group.to_string());
    let mut sql = format!("SELECT {STREAM_COLUMNS} FROM log_streams WHERE log_group = {g}");
    if let Some(p) = &q.prefix {
        sql += &prefix_clause(&mut args, "name", p);
    }
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    // The sort key must be spelled as in the index `log_streams_last_event`.
    let key = match q.order {
        StreamOrder::Name => "name".to_string(),
        StreamOrder::LastEventTime => "(ifnull(last_event, -1), name)".to_string(),
    };
    match &q.after {
        Some(StreamCursor::Name(n)) => {
            sql += &format!(" AND {key} {cmp} {}", bind(&mut args, n.clone()))
        }
        Some(StreamCursor::LastEvent(t, n)) => {
            let (t, n) = (bind(&mut args, *t), bind(&mut args, n.clone()));
            sql += &format!(" AND {key} {cmp} ({t}, {n})");
        }
        None => {}
    }
    sql += &match q.order {
        StreamOrder::Name => format!(" ORDER BY name {dir}"),
        StreamOrder::LastEventTime => format!(" ORDER BY ifnull(last_event, -1) {dir}, name {dir}"),
    };
    sql += &format!(" LIMIT {}", q.limit + 1);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), stream_from_row)?;
    Ok(Ok(rows.collect::<Result<_, _>>()?))
}

impl Store {
    pub async fn create_log_group(&self, g: NewLogGroup) -> Outcome<()> {
        self.call(move |c| create_group(c, &g)).await
    }

    pub async fn log_group(&self, name: &str) -> StoreResult<Option<LogGroup>> {
        let name = name.to_string();
        self.call(move |c| group(c, &name)).await
    }

    pub async fn delete_log_group(&self, name: &str, arn: &str) -> Outcome<()> {
        let (name, arn) = (name.to_string(), arn.to_string());
        self.call(move |c| delete_group(c, &name, &arn)).await
    }

    pub async fn create_log_stream(&self, group: &str, name: &str, created: i64) -> Outcome<()> {
        let (group, name) = (group.to_string(), name.to_string());
        self.call(move |c| create_stream(c, &group, &name, created))
            .await
    }

    pub async fn ensure_log_stream(
        &self,
        group: &str,
        name: &str,
        created: i64,
    ) -> StoreResult<()> {
        let (group, name) = (group.to_string(), name.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            ensure_stream(&tx, &group, &name, created)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn delete_log_stream(&self, group: &str, name: &str) -> Outcome<()> {
        let (group, name) = (group.to_string(), name.to_string());
        self.call(move |c| delete_stream(c, &group, &name)).await
    }

    /// Appends a batch in one transaction; with `create`, makes the group and stream first.
    pub async fn append_log_events(
        &self,
        group: &str,
        name: &str,
        events: Vec<(i64, String)>,
        ingestion: i64,
        create: bool,
    ) -> Outcome<i64> {
        let (group, name) = (group.to_string(), name.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            if create {
                ensure_stream(&tx, &group, &name, ingestion)?;
            }
            let seq = append(&tx, &group, &name, &events, ingestion)?;
            if seq.is_ok() {
                tx.commit()?;
            }
            Ok(seq)
        })
        .await
    }

    pub async fn list_log_groups(&self, q: GroupQuery) -> StoreResult<Vec<LogGroup>> {
        self.call(move |c| list_groups(c, &q)).await
    }

    pub async fn list_log_streams(&self, group: &str, q: StreamQuery) -> Outcome<Vec<LogStream>> {
        let group = group.to_string();
        self.call(move |c| list_streams(c, &group, &q)).await
    }

    pub async fn log_stream_events(
        &self,
        group: &str,
        name: &str,
        q: EventQuery,
    ) -> Outcome<Vec<LogEvent>> {
        let (group, name) = (group.to_string(), name.to_string());
        self.call(move |c| stream_events(c, &group, &name, &q))
            .await
    }

    pub async fn filter_log_events<F>(
        &self,
        group: &str,
        q: FilterQuery,
        keep: F,
    ) -> Outcome<FilterScan>
    where
        F: Fn(&str) -> bool + Send + 'static,
    {
        let group = group.to_string();
        self.call(move |c| filter_events(c, &group, &q, &keep))
            .await
    }
}

#[cfg(test)]
mod tests;
