//! Reading events back: one stream's page (GetLogEvents) and a group's filtered walk
//! (FilterLogEvents), both along the `(timestamp, id)` indexes.

use rusqlite::{Connection, Row, params_from_iter};

use super::{
    EventBound, EventKey, EventQuery, FilterQuery, FilterScan, LogEvent, Outcome, Refusal,
    StreamSelection, bind, group_exists, missing_stream,
};

/// Up to `limit` events of one stream, in ascending order, from the end `bound` names.
pub fn stream_events(
    conn: &Connection,
    group: &str,
    name: &str,
    q: &EventQuery,
) -> Outcome<Vec<LogEvent>> {
    if !conn
        .prepare_cached("SELECT 1 FROM log_streams WHERE log_group = ?1 AND name = ?2")?
        .exists([group, name])?
    {
        return Ok(Err(missing_stream(conn, group)?));
    }
    let mut args = Vec::new();
    let (g, s) = (
        bind(&mut args, group.to_string()),
        bind(&mut args, name.to_string()),
    );
    let mut sql = format!(
        "SELECT id, log_stream, timestamp, ingestion, message FROM log_events
         WHERE log_group = {g} AND log_stream = {s}"
    );
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
    let rows = stmt.query_map(params_from_iter(args), event_from_row)?;
    let mut events: Vec<LogEvent> = rows.collect::<Result<_, _>>()?;
    if backward {
        events.reverse();
    }
    Ok(Ok(events))
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<LogEvent> {
    Ok(LogEvent {
        id: r.get(0)?,
        stream: r.get(1)?,
        timestamp: r.get(2)?,
        ingestion: r.get(3)?,
        message: r.get(4)?,
    })
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
    if !group_exists(conn, group)? {
        return Ok(Err(Refusal::GroupNotFound));
    }
    let mut args = Vec::new();
    let g = bind(&mut args, group.to_string());
    // Walk the group-time index so the scan can stop early; the stream condition only filters.
    let mut sql = format!(
        "SELECT id, log_stream, timestamp, ingestion, message FROM log_events INDEXED BY log_events_group_time
         WHERE log_group = {g}"
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
    match &q.streams {
        StreamSelection::All => {}
        StreamSelection::Names(names) => {
            let list: Vec<String> = names.iter().map(|n| bind(&mut args, n.clone())).collect();
            sql += &format!(" AND log_stream IN ({})", list.join(", "));
        }
        StreamSelection::Prefix(p) => {
            let p = bind(&mut args, p.clone());
            sql += &format!(" AND substr(log_stream, 1, length({p})) = {p}");
        }
    }
    sql += " ORDER BY timestamp, id";
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut events: Vec<LogEvent> = Vec::new();
    let mut scanned = 0;
    let mut resume_after = None;
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
            events.push(event_from_row(row)?);
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
