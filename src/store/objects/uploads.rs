//! Multipart uploads' rows: the upload, its parts (each pointing at its blob) and the
//! completion that turns them into one object row.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};

use super::{ObjectMeta, ObjectRow, Part, Upload, get_object, prefix_upper_bound, upsert_object};
use crate::store::{Store, StoreResult};

impl Store {
    pub async fn create_upload(&self, u: Upload) -> StoreResult<()> {
        self.call(move |c| {
            c.prepare_cached("INSERT INTO uploads (upload_id, bucket, key, created, meta) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![u.upload_id, u.bucket, u.key, u.created, serde_json::to_string(&u.meta)?])?;
            Ok(())
        })
        .await
    }

    pub async fn upload(&self, upload_id: &str) -> StoreResult<Option<Upload>> {
        let id = upload_id.to_string();
        self.call(move |c| {
            c.prepare_cached(
                "SELECT upload_id, bucket, key, created, meta FROM uploads WHERE upload_id = ?1",
            )?
            .query_row([id], upload_from_row)
            .optional()?
            .map(decode_upload)
            .transpose()
        })
        .await
    }

    /// Uploads in progress in a bucket, by key then initiation time.
    pub async fn list_uploads(&self, bucket: &str, prefix: &str) -> StoreResult<Vec<Upload>> {
        let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT upload_id, bucket, key, created, meta FROM uploads
                 WHERE bucket = ?1 AND key >= ?2 AND key < ?3 ORDER BY key, created",
            )?;
            let rows = stmt.query_map(
                params![bucket, prefix, prefix_upper_bound(&prefix)],
                upload_from_row,
            )?;
            rows.map(|r| decode_upload(r?)).collect()
        })
        .await
    }

    /// Records a part, replacing an earlier upload of the same number. Returns the earlier
    /// part's blob when nothing else of the upload uses it any more (a shared file stays while
    /// another part lives in it).
    pub async fn put_part(&self, upload_id: &str, part: Part) -> StoreResult<Option<String>> {
        let id = upload_id.to_string();
        self.call(move |c| {
            let tx = c.transaction()?;
            let old: Option<String> = tx
                .prepare_cached("SELECT blob FROM upload_parts WHERE upload_id = ?1 AND part_number = ?2")?
                .query_row(params![id, part.number], |r| r.get(0))
                .optional()?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO upload_parts (upload_id, part_number, blob, blob_offset, size, etag, modified, checksums)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                part.number,
                part.blob,
                part.offset as i64,
                part.size as i64,
                part.etag,
                part.modified,
                serde_json::to_string(&part.checksums)?
            ])?;
            let old = match old {
                Some(blob) => {
                    let used: bool = tx
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM upload_parts WHERE upload_id = ?1 AND blob = ?2)",
                        )?
                        .query_row(params![id, blob], |r| r.get(0))?;
                    (!used).then_some(blob)
                }
                None => None,
            };
            tx.commit()?;
            Ok(old)
        })
        .await
    }

    pub async fn parts(&self, upload_id: &str) -> StoreResult<Vec<Part>> {
        let id = upload_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT part_number, blob, blob_offset, size, etag, modified, checksums FROM upload_parts
                 WHERE upload_id = ?1 ORDER BY part_number",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok((
                    Part {
                        number: r.get(0)?,
                        blob: r.get(1)?,
                        offset: r.get::<_, i64>(2)? as u64,
                        size: r.get::<_, i64>(3)? as u64,
                        etag: r.get(4)?,
                        modified: r.get(5)?,
                        checksums: BTreeMap::new(),
                    },
                    r.get::<_, String>(6)?,
                ))
            })?;
            rows.map(|r| {
                let (mut p, sums) = r?;
                p.checksums = serde_json::from_str(&sums)?;
                Ok(p)
            })
            .collect()
        })
        .await
    }

    /// Ends an upload. With `complete`, the object row is written in the same transaction, so
    /// the object appears exactly when the upload disappears. Returns the blobs no longer used
    /// (the parts', each once, and the object's previous blob), never the one the new object
    /// uses (an upload's shared file can become its object).
    pub async fn finish_upload(
        &self,
        upload_id: &str,
        complete: Option<ObjectRow>,
    ) -> StoreResult<Vec<String>> {
        let (id, rows) = (upload_id.to_string(), self.object_rows.clone());
        self.call(move |c| {
            let tx = c.transaction()?;
            let mut freed: Vec<String> = {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM upload_parts WHERE upload_id = ?1 RETURNING blob",
                )?;
                let rows = stmt.query_map([&id], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            tx.execute("DELETE FROM uploads WHERE upload_id = ?1", [&id])?;
            if let Some(row) = &complete {
                if let Some(old) = get_object(&tx, &row.bucket, &row.key)? {
                    freed.push(old.blob);
                }
                upsert_object(&tx, row)?;
                freed.retain(|b| *b != row.blob);
            }
            freed.sort_unstable();
            freed.dedup();
            tx.commit()?;
            if let Some(row) = &complete {
                rows.keep(row);
            }
            Ok(freed)
        })
        .await
    }
}

fn upload_from_row(r: &Row<'_>) -> rusqlite::Result<(Upload, String)> {
    Ok((
        Upload {
            upload_id: r.get(0)?,
            bucket: r.get(1)?,
            key: r.get(2)?,
            created: r.get(3)?,
            meta: ObjectMeta::default(),
        },
        r.get(4)?,
    ))
}

fn decode_upload((mut u, meta): (Upload, String)) -> StoreResult<Upload> {
    u.meta = serde_json::from_str(&meta)?;
    Ok(u)
}
