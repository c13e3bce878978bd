//! Tags, keyed by resource ARN, for every resource kind. Order of first insertion is kept so
//! ListTags answers in the order tags were added, as SageMaker does.

use rusqlite::{Connection, params};

use super::StoreResult;

pub fn list(conn: &Connection, arn: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT key, value FROM tags WHERE arn = ?1 ORDER BY seq, key")?;
    let rows = stmt.query_map([arn], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds or overwrites tags (an existing key keeps its position). Runs inside the caller's
/// transaction.
pub fn put(conn: &Connection, arn: &str, tags: &[(String, String)]) -> StoreResult<()> {
    let next: i64 = conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM tags WHERE arn = ?1",
        [arn],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO tags (arn, key, value, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
    )?;
    for (i, (k, v)) in tags.iter().enumerate() {
        stmt.execute(params![arn, k, v, next + i as i64])?;
    }
    Ok(())
}

pub fn delete(conn: &Connection, arn: &str, keys: &[String]) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM tags WHERE arn = ?1 AND key = ?2")?;
    for k in keys {
        stmt.execute(params![arn, k])?;
    }
    Ok(())
}

pub fn delete_all(conn: &Connection, arn: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM tags WHERE arn = ?1")?
        .execute([arn])?;
    Ok(())
}
