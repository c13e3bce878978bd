//! S3 metadata: buckets, objects and multipart uploads. Object bytes live in blob files that the
//! object service names and writes (see `service::objects`); a row here points at its blob, so a
//! key never becomes a path, and a row is committed only after its blob is durable.
//!
//! Buckets are also kept in memory ([`BucketCache`]): nearly every S3 call starts by checking
//! its bucket, and answering that without a trip to the blocking pool is a large share of a
//! small PUT's cost. Object rows recently read or written are too ([`ObjectCache`]), so a GET or
//! HEAD of a hot key makes no trip at all.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult};

mod uploads;

/// What S3 keeps beside an object's bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// `x-amz-meta-*` headers, without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Checksums by algorithm (`CRC32`, `CRC64NVME`, ...), base64 as S3 reports them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
    /// Object tags, sorted by key (S3 keeps a set and lists it in key order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// How `checksums` cover the object: `FULL_OBJECT` (the whole byte stream) or `COMPOSITE`
    /// (a checksum of the parts' checksums, `-N` suffixed); absent for objects without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// On a multipart upload: the algorithm CreateMultipartUpload named, which every part gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    /// `Expires`, as the client sent it (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// A multipart object's parts in order (GetObject by PartNumber, GetObjectAttributes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartMeta>,
}

/// One part of a completed multipart object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartMeta {
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checksums: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub created: f64,
    pub region: String,
}

#[derive(Debug, Clone)]
pub struct ObjectRow {
    pub bucket: String,
    pub key: String,
    pub blob: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: f64,
    pub meta: ObjectMeta,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub created: f64,
    pub meta: ObjectMeta,
}

#[derive(Debug, Clone)]
pub struct Part {
    pub number: i64,
    pub blob: String,
    /// Where the part's bytes start in `blob`: 0 for a part in a blob of its own, the part's
    /// place in the object for a part written into its upload's shared file (see
    /// `service::objects::layout`).
    pub offset: u64,
    pub size: u64,
    pub etag: String,
    pub modified: f64,
    pub checksums: BTreeMap<String, String>,
}

pub enum BucketDeletion {
    Deleted,
    NotFound,
    NotEmpty,
}

/// The smallest string greater than every key that starts with `prefix` (keys are UTF-8 and
/// compared bytewise; U+10FFFF encodes as the largest 4-byte sequence).
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}\u{10FFFF}")
}

fn object_from_row(r: &Row<'_>) -> rusqlite::Result<(ObjectRow, String)> {
    Ok((
        ObjectRow {
            bucket: r.get(0)?,
            key: r.get(1)?,
            blob: r.get(2)?,
            size: r.get::<_, i64>(3)? as u64,
            etag: r.get(4)?,
            last_modified: r.get(5)?,
            meta: ObjectMeta::default(),
        },
        r.get(6)?,
    ))
}

fn decode_object((mut row, meta): (ObjectRow, String)) -> StoreResult<ObjectRow> {
    row.meta = serde_json::from_str(&meta)?;
    Ok(row)
}

/// Every bucket, read from SQLite on first use. It changes only inside `Store::call` (holding
/// the connection) right after the statement that changed the table commits, so it answers as
/// the committed table does and needs no invalidation.
#[derive(Default)]
pub struct BucketCache {
    /// None until loaded.
    map: RwLock<Option<HashMap<String, Bucket>>>,
}

impl BucketCache {
    /// The bucket if the cache is loaded (`Some(None)`: no such bucket), None if not yet loaded.
    fn get(&self, name: &str) -> Option<Option<Bucket>> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.as_ref().map(|m| m.get(name).cloned())
    }

    /// Reads every bucket, unless already loaded. Called with the connection held.
    fn load(&self, c: &Connection) -> StoreResult<()> {
        if self.map.read().unwrap_or_else(|p| p.into_inner()).is_some() {
            return Ok(());
        }
        let all = c
            .prepare_cached("SELECT name, created, region FROM buckets")?
            .query_map([], bucket_from_row)?
            .map(|r| r.map(|b| (b.name.clone(), b)))
            .collect::<Result<HashMap<_, _>, _>>()?;
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = Some(all);
        Ok(())
    }

    /// Applies a committed change (a no-op before loading: the load will read it).
    fn change(&self, f: impl FnOnce(&mut HashMap<String, Bucket>)) {
        if let Some(map) = self.map.write().unwrap_or_else(|p| p.into_inner()).as_mut() {
            f(map);
        }
    }
}

/// Object rows recently read or written, by bucket and key. Like [`BucketCache`] it changes
/// only inside `Store::call` (holding the connection): a miss reads the row and keeps it, and
/// every statement that changes a row updates or drops its entry right after it commits. So a
/// hit is the committed row, and a change can never be overtaken by a read of the row before it.
#[derive(Default)]
pub struct ObjectCache {
    map: RwLock<ObjectMap>,
}

#[derive(Default)]
struct ObjectMap {
    by_bucket: HashMap<String, HashMap<String, Arc<ObjectRow>>>,
    rows: usize,
}

/// Rows kept before the cache starts afresh: a few MB of metadata at most, and the keys a load
/// works on come back on their next miss.
const OBJECT_CACHE_ROWS: usize = 8192;

impl ObjectCache {
    fn get(&self, bucket: &str, key: &str) -> Option<ObjectRow> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        map.by_bucket
            .get(bucket)?
            .get(key)
            .map(|r| ObjectRow::clone(r))
    }

    /// Keeps a committed row. Called with the connection held.
    fn keep(&self, row: &ObjectRow) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.rows >= OBJECT_CACHE_ROWS {
            *map = ObjectMap::default();
        }
        let keys = map.by_bucket.entry(row.bucket.clone()).or_default();
        if keys
            .insert(row.key.clone(), Arc::new(row.clone()))
            .is_none()
        {
            map.rows += 1;
        }
    }

    /// Forgets a row that changed or went. Called with the connection held.
    fn forget(&self, bucket: &str, key: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(keys) = map.by_bucket.get_mut(bucket)
            && keys.remove(key).is_some()
        {
            map.rows -= 1;
        }
    }

    fn forget_bucket(&self, bucket: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(keys) = map.by_bucket.remove(bucket) {
            map.rows -= keys.len();
        }
    }
}

fn bucket_from_row(r: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        created: r.get(1)?,
        region: r.get(2)?,
    })
}

const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, last_modified, meta";

fn get_object(c: &Connection, bucket: &str, key: &str) -> StoreResult<Option<ObjectRow>> {
    c.prepare_cached(&format!(
        "SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"
    ))?
    .query_row(params![bucket, key], object_from_row)
    .optional()?
    .map(decode_object)
    .transpose()
}

/// Object rows waiting for the connection. Under load many small PUTs are in flight at once;
/// committing the rows that queued up meanwhile in one transaction costs one WAL append and one
/// commit for the group instead of one each, and the rows share their b-tree pages, so the WAL
/// (and its checkpoints, which flush) grows a fraction as fast. A lone PUT is a group of one.
#[derive(Default)]
pub struct PutQueue {
    waiting: std::sync::Mutex<Vec<QueuedPut>>,
}

struct QueuedPut {
    row: ObjectRow,
    answer: tokio::sync::oneshot::Sender<StoreResult<Option<String>>>,
}

impl PutQueue {
    /// Queues a row; true when it is the first of a new group, whose caller writes the group.
    fn push(&self, put: QueuedPut) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        waiting.push(put);
        waiting.len() == 1
    }

    fn take(&self) -> Vec<QueuedPut> {
        std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Writes a group of rows in one transaction, in the order they came, and answers each with the
/// blob its row replaced. A row that fails (its bucket went meanwhile: the foreign key) fails
/// alone: SQLite undoes only that statement. If the group cannot commit, each row is tried in a
/// transaction of its own, so each caller gets its own answer.
fn put_rows(c: &mut Connection, cache: &ObjectCache, group: Vec<QueuedPut>) {
    if group.len() > 1 {
        let mut results = Vec::with_capacity(group.len());
        let committed = (|| -> StoreResult<()> {
            let tx = c.transaction()?;
            for p in &group {
                results.push(put_row(&tx, &p.row));
            }
            tx.commit()?;
            Ok(())
        })();
        if committed.is_ok() {
            for (p, result) in group.into_iter().zip(results) {
                if result.is_ok() {
                    cache.keep(&p.row);
                }
                p.answer.send(result).ok();
            }
            return;
        }
        // The transaction rolled back: nothing of the group is stored, and the cache was not
        // touched. Try each row alone.
    }
    for p in group {
        let result = (|| {
            let tx = c.transaction()?;
            let old = put_row(&tx, &p.row)?;
            tx.commit()?;
            cache.keep(&p.row);
            Ok(old)
        })();
        p.answer.send(result).ok();
    }
}

/// Writes one row; returns the blob it replaced.
fn put_row(c: &Connection, row: &ObjectRow) -> StoreResult<Option<String>> {
    let old: Option<String> = c
        .prepare_cached("SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![row.bucket, row.key], |r| r.get(0))
        .optional()?;
    upsert_object(c, row)?;
    Ok(old.filter(|b| *b != row.blob))
}

/// Writes the object's row, replacing the key's previous one.
fn upsert_object(c: &Connection, row: &ObjectRow) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        row.bucket,
        row.key,
        row.blob,
        row.size as i64,
        row.etag,
        row.last_modified,
        serde_json::to_string(&row.meta)?
    ])?;
    Ok(())
}

impl Store {
    /// Creates a bucket; false when the name is taken.
    pub async fn create_bucket(&self, b: Bucket) -> StoreResult<bool> {
        let cache = self.buckets.clone();
        self.call(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO buckets (name, created, region) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![b.name, b.created, b.region])?;
            if n == 1 {
                cache.change(|m| {
                    m.insert(b.name.clone(), b);
                });
            }
            Ok(n == 1)
        })
        .await
    }

    pub async fn bucket(&self, name: &str) -> StoreResult<Option<Bucket>> {
        if let Some(known) = self.buckets.get(name) {
            return Ok(known);
        }
        let (cache, name) = (self.buckets.clone(), name.to_string());
        self.call(move |c| {
            cache.load(c)?;
            Ok(cache.get(&name).flatten())
        })
        .await
    }

    pub async fn list_buckets(&self) -> StoreResult<Vec<Bucket>> {
        self.call(|c| {
            let mut stmt =
                c.prepare_cached("SELECT name, created, region FROM buckets ORDER BY name")?;
            let rows = stmt.query_map([], bucket_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Deletes an empty bucket (no objects, no multipart uploads in progress).
    pub async fn delete_bucket(&self, name: &str) -> StoreResult<BucketDeletion> {
        let (cache, rows, name) = (
            self.buckets.clone(),
            self.object_rows.clone(),
            name.to_string(),
        );
        self.call(move |c| {
            let tx = c.transaction()?;
            let exists = tx.prepare_cached("SELECT 1 FROM buckets WHERE name = ?1")?.exists([&name])?;
            if !exists {
                return Ok(BucketDeletion::NotFound);
            }
            let has_objects = tx.prepare_cached("SELECT 1 FROM objects WHERE bucket = ?1 LIMIT 1")?.exists([&name])?;
            if has_objects {
                return Ok(BucketDeletion::NotEmpty);
            }
            // Unfinished uploads go with the bucket, as S3 does; their part blobs become orphans
            // for the startup sweep.
            tx.execute(
                "DELETE FROM upload_parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?1)",
                [&name],
            )?;
            tx.execute("DELETE FROM uploads WHERE bucket = ?1", [&name])?;
            tx.execute("DELETE FROM buckets WHERE name = ?1", [&name])?;
            super::tags::delete_all(&tx, &format!("arn:aws:s3:::{name}"))?;
            tx.commit()?;
            cache.change(|m| {
                m.remove(&name);
            });
            rows.forget_bucket(&name);
            Ok(BucketDeletion::Deleted)
        })
        .await
    }

    /// Points `bucket/key` at a new blob; returns the blob it replaced, which the caller deletes
    /// once this has committed. Rows that arrive while another's is being written wait and then
    /// commit together (see [`PutQueue`]).
    pub async fn put_object(&self, row: ObjectRow) -> StoreResult<Option<String>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        if self.object_puts.push(QueuedPut { row, answer }) {
            // The first row of a group: write, when the connection is free, every row queued by
            // then (this one and those that arrive while earlier work holds the connection).
            let (queue, rows) = (self.object_puts.clone(), self.object_rows.clone());
            let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let running = ran.clone();
            let written = self
                .call(move |c| {
                    running.store(true, std::sync::atomic::Ordering::Release);
                    put_rows(c, &rows, queue.take());
                    Ok(())
                })
                .await;
            if let Err(e) = written
                && !ran.load(std::sync::atomic::Ordering::Acquire)
            {
                // The writer never ran (the runtime is stopping): answer every row queued for
                // it, this one included, or the rows behind this one would wait for a group
                // nobody writes.
                for p in self.object_puts.take() {
                    p.answer.send(Err(StoreError::Task(e.to_string()))).ok();
                }
            }
        }
        answered
            .await
            .map_err(|_| StoreError::Task("the object row writer stopped".into()))?
    }

    /// Replaces an object's metadata (tags) without touching its bytes. False if it is gone.
    pub async fn update_object_meta(
        &self,
        bucket: &str,
        key: &str,
        meta: ObjectMeta,
    ) -> StoreResult<bool> {
        let (bucket, key, rows) = (
            bucket.to_string(),
            key.to_string(),
            self.object_rows.clone(),
        );
        self.call(move |c| {
            let n = c
                .prepare_cached("UPDATE objects SET meta = ?3 WHERE bucket = ?1 AND key = ?2")?
                .execute(params![bucket, key, serde_json::to_string(&meta)?])?;
            rows.forget(&bucket, &key);
            Ok(n == 1)
        })
        .await
    }

    pub async fn object(&self, bucket: &str, key: &str) -> StoreResult<Option<ObjectRow>> {
        if let Some(row) = self.object_rows.get(bucket, key) {
            return Ok(Some(row));
        }
        let (bucket, key, rows) = (
            bucket.to_string(),
            key.to_string(),
            self.object_rows.clone(),
        );
        self.call(move |c| {
            let row = get_object(c, &bucket, &key)?;
            if let Some(row) = &row {
                rows.keep(row);
            }
            Ok(row)
        })
        .await
    }

    /// Removes the row; returns its blob for the caller to delete.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> StoreResult<Option<String>> {
        let (bucket, key, rows) = (
            bucket.to_string(),
            key.to_string(),
            self.object_rows.clone(),
        );
        self.call(move |c| {
            let blob = c
                .prepare_cached(
                    "DELETE FROM objects WHERE bucket = ?1 AND key = ?2 RETURNING blob",
                )?
                .query_row(params![bucket, key], |r| r.get(0))
                .optional()?;
            rows.forget(&bucket, &key);
            Ok(blob)
        })
        .await
    }

    /// Up to `limit` objects whose keys start with `prefix` and sort after `after`, in key order.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> StoreResult<Vec<ObjectRow>> {
        let (bucket, prefix, after) = (bucket.to_string(), prefix.to_string(), after.to_string());
        self.call(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {OBJECT_COLUMNS} FROM objects
                 WHERE bucket = ?1 AND key > ?2 AND key >= ?3 AND key < ?4 ORDER BY key LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    bucket,
                    after,
                    prefix,
                    prefix_upper_bound(&prefix),
                    limit as i64
                ],
                object_from_row,
            )?;
            rows.map(|r| decode_object(r?)).collect()
        })
        .await
    }

    /// Every blob a row points at, for the startup sweep of orphaned files.
    pub async fn referenced_blobs(&self) -> StoreResult<HashSet<String>> {
        self.call(|c| {
            let mut stmt =
                c.prepare("SELECT blob FROM objects UNION ALL SELECT blob FROM upload_parts")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listing_by_prefix_is_bytewise_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        assert!(
            store
                .create_bucket(Bucket {
                    name: "b".into(),
                    created: 0.0,
                    region: "us-east-1".into()
                })
                .await
                .unwrap()
        );
        for key in ["a", "a/b", "a/c", "ab", "a\u{10FFFF}", "b"] {
            let row = ObjectRow {
                bucket: "b".into(),
                key: key.into(),
                blob: format!("blob-{key}"),
                size: 0,
                etag: String::new(),
                last_modified: 0.0,
                meta: ObjectMeta::default(),
            };
            assert_eq!(store.put_object(row).await.unwrap(), None);
        }
        let keys = |rows: Vec<ObjectRow>| rows.into_iter().map(|r| r.key).collect::<Vec<_>>();
        assert_eq!(
            keys(store.list_objects("b", "a/", "", 10).await.unwrap()),
            ["a/b", "a/c"]
        );
        assert_eq!(
            keys(store.list_objects("b", "a", "a/b", 10).await.unwrap()),
            ["a/c", "ab", "a\u{10FFFF}"]
        );
        assert_eq!(
            keys(store.list_objects("b", "", "", 2).await.unwrap()),
            ["a", "a/b"]
        );
        assert!(matches!(
            store.delete_bucket("b").await.unwrap(),
            BucketDeletion::NotEmpty
        ));
    }

    #[tokio::test]
    async fn bucket_lookups_follow_creation_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        let bucket = |name: &str| Bucket {
            name: name.into(),
            created: 0.0,
            region: "us-east-1".into(),
        };
        // Created before the cache is loaded, then read (loading it), then changed after.
        assert!(store.create_bucket(bucket("early")).await.unwrap());
        assert!(store.bucket("early").await.unwrap().is_some());
        assert!(store.bucket("late").await.unwrap().is_none());
        assert!(store.create_bucket(bucket("late")).await.unwrap());
        assert!(!store.create_bucket(bucket("late")).await.unwrap());
        assert_eq!(
            store.bucket("late").await.unwrap().unwrap().region,
            "us-east-1"
        );
        assert!(matches!(
            store.delete_bucket("early").await.unwrap(),
            BucketDeletion::Deleted
        ));
        assert!(store.bucket("early").await.unwrap().is_none());
        // A second store on the same file (a restart) sees the same buckets.
        let reopened = Store::open(dir.path(), || Ok(())).unwrap();
        assert!(reopened.bucket("late").await.unwrap().is_some());
        assert!(reopened.bucket("early").await.unwrap().is_none());
    }

    /// A store in a new directory (kept while the store is used) with one bucket.
    async fn store_with_bucket(name: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        store
            .create_bucket(Bucket {
                name: name.into(),
                created: 0.0,
                region: "us-east-1".into(),
            })
            .await
            .unwrap();
        (dir, store)
    }

    fn test_row(bucket: &str, key: &str, blob: &str) -> ObjectRow {
        ObjectRow {
            bucket: bucket.into(),
            key: key.into(),
            blob: blob.into(),
            size: 1,
            etag: blob.into(),
            last_modified: 0.0,
            meta: ObjectMeta::default(),
        }
    }

    #[tokio::test]
    async fn object_lookups_follow_every_change_of_the_row() {
        let (dir, store) = store_with_bucket("b").await;
        let row = |blob: &str| test_row("b", "k", blob);
        let blob = |store: &Store| {
            let store = store.clone();
            async move { store.object("b", "k").await.unwrap().map(|r| r.blob) }
        };
        store.put_object(row("one")).await.unwrap();
        assert_eq!(blob(&store).await.as_deref(), Some("one"));
        // An overwrite, read twice (the second from memory).
        assert_eq!(
            store.put_object(row("two")).await.unwrap().as_deref(),
            Some("one")
        );
        assert_eq!(blob(&store).await.as_deref(), Some("two"));
        assert_eq!(blob(&store).await.as_deref(), Some("two"));
        // New tags are seen at once.
        let tagged = ObjectMeta {
            tags: vec![("t".into(), "v".into())],
            ..Default::default()
        };
        assert!(
            store
                .update_object_meta("b", "k", tagged.clone())
                .await
                .unwrap()
        );
        assert_eq!(store.object("b", "k").await.unwrap().unwrap().meta, tagged);
        // A completed upload replaces the row.
        store
            .create_upload(Upload {
                upload_id: "u".into(),
                bucket: "b".into(),
                key: "k".into(),
                created: 0.0,
                meta: ObjectMeta::default(),
            })
            .await
            .unwrap();
        assert_eq!(blob(&store).await.as_deref(), Some("two"));
        store.finish_upload("u", Some(row("three"))).await.unwrap();
        assert_eq!(blob(&store).await.as_deref(), Some("three"));
        // A deletion is seen at once, and so is the key written again.
        assert_eq!(
            store.delete_object("b", "k").await.unwrap().as_deref(),
            Some("three")
        );
        assert_eq!(blob(&store).await, None);
        store.put_object(row("four")).await.unwrap();
        assert_eq!(blob(&store).await.as_deref(), Some("four"));
        // A reopened store (an empty cache) reads the same row.
        drop(store);
        let store = Store::open(dir.path(), || Ok(())).unwrap();
        assert_eq!(blob(&store).await.as_deref(), Some("four"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rows_put_at_once_commit_together_and_each_gets_its_own_answer() {
        let (dir, store) = store_with_bucket("b").await;
        // Hold the connection so that every row below queues up behind it and they form groups.
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let store = store.clone();
            async move {
                store
                    .call(move |_| {
                        held_rx.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        let mut puts = Vec::new();
        for i in 0..40 {
            // Ten keys written four times each, and every tenth row into a bucket that is not there.
            let bucket = if i % 10 == 9 { "gone" } else { "b" };
            let r = test_row(bucket, &format!("k{}", i % 10), &format!("blob{i}"));
            let store = store.clone();
            puts.push(tokio::spawn(async move { store.put_object(r).await }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        held_tx.send(()).unwrap();
        holder.await.unwrap().unwrap();
        let mut answers = Vec::new();
        for p in puts {
            answers.push(p.await.unwrap());
        }
        for (i, a) in answers.iter().enumerate() {
            if i % 10 == 9 {
                assert!(
                    a.is_err(),
                    "row {i} went into a bucket that is not there: {a:?}"
                );
            } else {
                assert!(a.is_ok(), "row {i}: {a:?}");
            }
        }
        // The rows that replaced another say which blob they replaced; every blob is replaced
        // exactly once but each key's last one, whatever the order the rows were written in.
        let mut replaced: Vec<String> = answers
            .into_iter()
            .filter_map(|a| a.ok().flatten())
            .collect();
        replaced.sort();
        let mut written = Vec::new();
        for k in 0..9 {
            let last = store
                .object("b", &format!("k{k}"))
                .await
                .unwrap()
                .unwrap()
                .blob;
            for i in (k..40).step_by(10) {
                if format!("blob{i}") != last {
                    written.push(format!("blob{i}"));
                }
            }
        }
        written.sort();
        assert_eq!(replaced, written);
        assert!(store.object("gone", "k9").await.unwrap().is_none());
        // What memory says is what the database says.
        drop(store);
        let reopened = Store::open(dir.path(), || Ok(())).unwrap();
        for k in 0..9 {
            assert!(
                reopened
                    .object("b", &format!("k{k}"))
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }
}
