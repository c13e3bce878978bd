//! Reading events back: one stream's page (GetLogEvents) and a group's filtered walk
//! (FilterLogEvents), both along the `(timestamp, id)` indexes.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::{
    EventBound, EventKey, EventQuery, FilterQuery, FilterScan, LogEvent, Outcome, Refusal,
    StreamSelection, bind, missing_stream, prefix_clause,
};

/// Up to `limit` events of one stream, in ascending order, from the end `bound` names.
pub fn stream_events(
    conn: &Connection,
    group: &str,
    name: &str,
    q: &EventQuery,
) -> Outcome<Vec<LogEvent>> {
    let sid: Option<i64> = conn
        .prepare_cached("SELECT sid FROM log_streams WHERE log_group = ?1 AND name = ?2")?
        .query_row([group, name], |r| r.get(0))
        .optional()?;
    let Some(sid) = sid else {
        return Ok(Err(missing_stream(conn, group)?));
    };
    let mut args = Vec::new();
    let s = bind(&mut args, sid);
    let mut sql =
        format!("SELECT id, timestamp, ingestion, message FROM log_events WHERE sid = {s}");
    if let Some(t) = q.start {
        sql += &format!(" AND timestamp >= {}", bind(&mut args, t));
    }
    if let Some(t) = q.end {
        sql += &format!(" AND timestamp < {}", bind(&mut args, t));
    }
    let backward = matches!(q.bound, EventBound::Tail | EventBound::Before(_));
    if let EventBound::After(k) | EventBound::Before(k) = q.bound {
        let cmp = if backward { "<" } else { ">" };
        let (t, i) = (bind(&mut args, k.timestamp), bind(&mut args, k.id));
        sql += &format!(" AND (timestamp, id) {cmp} ({t}, {i})");
    }
    let dir = if backward { "DESC" } else { "ASC" };
    sql += &format!(
        " ORDER BY timestamp {dir}, id {dir} LIMIT {}",
        bind(&mut args, q.limit as i64)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| {
        Ok(LogEvent {
            id: r.get(0)?,
            stream: name.to_string(),
            timestamp: r.get(1)?,
            ingestion: r.get(2)?,
            message: r.get(3)?,
        })
    })?;
    let mut events: Vec<LogEvent> = rows.collect::<Result<_, _>>()?;
    if backward {
        events.reverse();
    }
    Ok(Ok(events))
}

/// Walks a group's events in (timestamp, id) order after `q.after`, keeping those `keep`
/// accepts, until `q.limit` are kept and one more is known to follow, or `q.scan_limit` events
/// were examined, or the events run out.
pub fn filter_events(
    conn: &Connection,
    group: &str,
    q: &FilterQuery,
    keep: &dyn Fn(&str) -> bool,
) -> Outcome<FilterScan> {
    let gid: Option<i64> = conn
        .prepare_cached("SELECT gid FROM log_groups WHERE name = ?1")?
        .query_row([group], |r| r.get(0))
        .optional()?;
    let Some(gid) = gid else {
        return Ok(Err(Refusal::GroupNotFound));
    };
    let mut args = Vec::new();
    let g = bind(&mut args, gid);
    // Walk the group-time index so the scan can stop early; the stream condition only filters.
    let mut sql = format!(
        "SELECT id, sid, timestamp, ingestion, message FROM log_events INDEXED BY log_events_group_time
         WHERE gid = {g}"
    );
    if let Some(t) = q.start {
        sql += &format!(" AND timestamp >= {}", bind(&mut args, t));
    }
    // FilterLogEvents' endTime is inclusive ("events with a timestamp later than this time are
    // not returned"), unlike GetLogEvents'.
    if let Some(t) = q.end {
        sql += &format!(" AND timestamp <= {}", bind(&mut args, t));
    }
    if let Some(k) = q.after {
        let (t, i) = (bind(&mut args, k.timestamp), bind(&mut args, k.id));
        sql += &format!(" AND (timestamp, id) > ({t}, {i})");
    }
    // The selected streams' numbers, looked up once for the whole walk.
    let streams = match &q.streams {
        StreamSelection::All => None,
        StreamSelection::Names(names) => {
            let list: Vec<String> = names.iter().map(|n| bind(&mut args, n.clone())).collect();
            Some(format!(" AND name IN ({})", list.join(", ")))
        }
        StreamSelection::Prefix(p) => Some(prefix_clause(&mut args, "name", p)),
    };
    if let Some(names) = streams {
        let gn = bind(&mut args, group.to_string());
        sql += &format!(" AND sid IN (SELECT sid FROM log_streams WHERE log_group = {gn}{names})");
    }
    sql += " ORDER BY timestamp, id";
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut events: Vec<LogEvent> = Vec::new();
    let mut scanned = 0;
    let mut resume_after = None;
    // Stream names by number, as kept events need them.
    let mut names: HashMap<i64, String> = HashMap::new();
    while let Some(row) = rows.next()? {
        scanned += 1;
        // The message is matched where SQLite holds it: only the events kept are copied out.
        let message = row.get_ref(4)?.as_str().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, e.into())
        })?;
        if keep(message) {
            if events.len() == q.limit {
                resume_after = events.last().map(LogEvent::key);
                break;
            }
            let message = message.to_string();
            let sid: i64 = row.get(1)?;
            let stream = match names.get(&sid) {
                Some(name) => name.clone(),
                None => {
                    let name: String = conn
                        .prepare_cached("SELECT name FROM log_streams WHERE sid = ?1")?
                        .query_row([sid], |r| r.get(0))
                        .optional()?
                        .unwrap_or_default();
                    names.insert(sid, name.clone());
                    name
                }
            };
            events.push(LogEvent {
                id: row.get(0)?,
                stream,
                timestamp: row.get(2)?,
                ingestion: row.get(3)?,
                message,
            });
        }
        if scanned >= q.scan_limit {
            let key = EventKey {
                timestamp: row.get(2)?,
                id: row.get(0)?,
            };
            // No next page when nothing follows.
            if rows.next()?.is_some() {
                resume_after = Some(key);
            }
            break;
        }
    }
    Ok(Ok(FilterScan {
        events,
        resume_after,
    }))
}
