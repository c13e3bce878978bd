//! The Feature Store's online store: the latest record of each record identifier in a feature
//! group (service/featurestore). A row keeps the record's features as JSON (the `Record` list
//! as PutRecord sent it), its event time, when it expires (TTL), and whether a soft delete
//! marked it. Which write wins is decided here, in one statement, so two PutRecords racing for
//! one identifier cannot both win: the newer event time does (a tie goes to the later call).

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::{Store, StoreResult};

/// One record of the online store.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineRecord {
    pub feature_group: String,
    pub record_id: String,
    /// Event time, epoch seconds.
    pub event_time: f64,
    /// When the record expires (epoch seconds); None: never.
    pub expires_at: Option<f64>,
    /// Marked by a soft delete: kept (its event time still orders later writes) but not served.
    pub deleted: bool,
    /// The `Record` member (a list of FeatureValue); empty for a soft-deleted record.
    pub record: Value,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The record was marked (soft) or removed (hard), or there was none.
    Done,
    /// The stored record's event time is newer than the delete's: nothing changed.
    Newer,
}

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OnlineRecord, String)> {
    Ok((
        OnlineRecord {
            feature_group: r.get(0)?,
            record_id: r.get(1)?,
            event_time: r.get(2)?,
            expires_at: r.get(3)?,
            deleted: r.get(4)?,
            record: Value::Null,
        },
        r.get(5)?,
    ))
}

impl Store {
    /// Writes `rec` unless the stored record of its identifier has a newer event time; whether
    /// it was written.
    pub async fn feature_put(&self, rec: OnlineRecord) -> StoreResult<bool> {
        self.call(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO feature_records
                        (feature_group, record_id, event_time, expires_at, deleted, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (feature_group, record_id) DO UPDATE SET
                        event_time = excluded.event_time, expires_at = excluded.expires_at,
                        deleted = excluded.deleted, record = excluded.record
                     WHERE excluded.event_time >= feature_records.event_time",
                )?
                .execute(params![
                    rec.feature_group,
                    rec.record_id,
                    rec.event_time,
                    rec.expires_at,
                    rec.deleted,
                    serde_json::to_string(&rec.record)?,
                ])?;
            Ok(n > 0)
        })
        .await
    }

    /// The stored record of an identifier, deleted or expired ones included (the caller judges).
    pub async fn feature_get(
        &self,
        feature_group: &str,
        record_id: &str,
    ) -> StoreResult<Option<OnlineRecord>> {
        let (g, id) = (feature_group.to_string(), record_id.to_string());
        self.call(move |c| {
            let found = c
                .prepare_cached(
                    "SELECT feature_group, record_id, event_time, expires_at, deleted, record
                     FROM feature_records WHERE feature_group = ?1 AND record_id = ?2",
                )?
                .query_row(params![g, id], read)
                .optional()?;
            match found {
                Some((mut rec, json)) => {
                    rec.record = serde_json::from_str(&json)?;
                    Ok(Some(rec))
                }
                None => Ok(None),
            }
        })
        .await
    }

    /// Deletes a record as of `event_time`: `hard` removes it, otherwise it is marked deleted
    /// and its features dropped. A record with a newer event time stays as it is. A soft delete
    /// of an identifier with no record leaves the marker, so older writes stay hidden.
    pub async fn feature_delete(
        &self,
        feature_group: &str,
        record_id: &str,
        event_time: f64,
        hard: bool,
    ) -> StoreResult<Deleted> {
        let (g, id) = (feature_group.to_string(), record_id.to_string());
        self.call(move |c| {
            let tx = c.transaction()?;
            let stored: Option<f64> = tx
                .query_row(
                    "SELECT event_time FROM feature_records
                     WHERE feature_group = ?1 AND record_id = ?2",
                    params![g, id],
                    |r| r.get(0),
                )
                .optional()?;
            if stored.is_some_and(|t| t > event_time) {
                return Ok(Deleted::Newer);
            }
            if hard {
                tx.execute(
                    "DELETE FROM feature_records WHERE feature_group = ?1 AND record_id = ?2",
                    params![g, id],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO feature_records
                        (feature_group, record_id, event_time, expires_at, deleted, record)
                     VALUES (?1, ?2, ?3, NULL, 1, '[]')
                     ON CONFLICT (feature_group, record_id) DO UPDATE SET
                        event_time = excluded.event_time, expires_at = NULL, deleted = 1,
                        record = '[]'",
                    params![g, id, event_time],
                )?;
            }
            tx.commit()?;
            Ok(Deleted::Done)
        })
        .await
    }

    /// Up to `limit` record identifiers of a group after `after`, in order: soft-deleted ones
    /// only with `include_deleted`, expired ones (as of `now`) never.
    pub async fn feature_ids(
        &self,
        feature_group: &str,
        after: Option<String>,
        limit: usize,
        include_deleted: bool,
        now: f64,
    ) -> StoreResult<Vec<String>> {
        let g = feature_group.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT record_id FROM feature_records
                 WHERE feature_group = ?1 AND record_id > ?2 AND (?3 OR deleted = 0)
                   AND (expires_at IS NULL OR expires_at > ?4)
                 ORDER BY record_id LIMIT ?5",
            )?;
            let rows = stmt.query_map(
                params![
                    g,
                    after.unwrap_or_default(),
                    include_deleted,
                    now,
                    limit as i64
                ],
                |r| r.get(0),
            )?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    /// Removes every record of a feature group (the group is being deleted); how many went.
    pub async fn feature_delete_group(&self, feature_group: &str) -> StoreResult<usize> {
        let g = feature_group.to_string();
        self.call(move |c| {
            Ok(c.execute(
                "DELETE FROM feature_records WHERE feature_group = ?1",
                params![g],
            )?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        (dir, store)
    }

    fn rec(id: &str, t: f64, v: &str) -> OnlineRecord {
        OnlineRecord {
            feature_group: "fg".into(),
            record_id: id.into(),
            event_time: t,
            expires_at: None,
            deleted: false,
            record: json!([{"FeatureName": "v", "ValueAsString": v}]),
        }
    }

    #[tokio::test]
    async fn the_newest_event_time_wins() {
        let (_d, s) = store();
        assert!(s.feature_put(rec("a", 10.0, "first")).await.unwrap());
        assert!(!s.feature_put(rec("a", 5.0, "older")).await.unwrap());
        assert!(s.feature_put(rec("a", 10.0, "tie")).await.unwrap());
        let got = s.feature_get("fg", "a").await.unwrap().unwrap();
        assert_eq!(got.record[0]["ValueAsString"], "tie");
        assert_eq!(got.event_time, 10.0);
        assert!(s.feature_get("fg", "b").await.unwrap().is_none());
        assert!(s.feature_get("other", "a").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn soft_deletes_mark_and_hard_deletes_remove() {
        let (_d, s) = store();
        s.feature_put(rec("a", 10.0, "x")).await.unwrap();
        assert_eq!(
            s.feature_delete("fg", "a", 5.0, false).await.unwrap(),
            Deleted::Newer
        );
        assert_eq!(
            s.feature_delete("fg", "a", 11.0, false).await.unwrap(),
            Deleted::Done
        );
        let got = s.feature_get("fg", "a").await.unwrap().unwrap();
        assert!(got.deleted && got.record == json!([]));
        // a write older than the delete stays hidden; a newer one brings the record back
        assert!(!s.feature_put(rec("a", 10.5, "old")).await.unwrap());
        assert!(s.feature_put(rec("a", 12.0, "new")).await.unwrap());
        assert!(!s.feature_get("fg", "a").await.unwrap().unwrap().deleted);
        assert_eq!(
            s.feature_delete("fg", "a", 13.0, true).await.unwrap(),
            Deleted::Done
        );
        assert!(s.feature_get("fg", "a").await.unwrap().is_none());
        s.feature_put(rec("b", 1.0, "x")).await.unwrap();
        s.feature_put(rec("c", 1.0, "x")).await.unwrap();
        s.feature_delete("fg", "c", 2.0, false).await.unwrap();
        let ids = |after: Option<&str>, deleted| {
            s.feature_ids("fg", after.map(str::to_string), 10, deleted, 0.0)
        };
        assert_eq!(ids(None, false).await.unwrap(), ["b"]);
        assert_eq!(ids(None, true).await.unwrap(), ["b", "c"]);
        assert_eq!(ids(Some("b"), true).await.unwrap(), ["c"]);
        assert_eq!(s.feature_delete_group("fg").await.unwrap(), 2);
    }
}
