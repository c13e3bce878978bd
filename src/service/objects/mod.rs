//! The object store behind S3: buckets, objects, multipart uploads, and the internal API other
//! services use (training will hard-link object files into containers).
//!
//! Bytes live in immutable blob files under `<data-dir>/objects/blobs/<aa>/<id>`, named by a
//! random id, never by the key: any key is safe (`..`, NUL, 1024-byte names, `a` beside `a/b`).
//! Every write streams into `objects/tmp/`, is fsynced, renamed into place (and the directory
//! fsynced), and only then is its metadata row committed; replaced blobs are deleted after the
//! commit. A crash therefore leaves at worst an unreferenced file, which the startup sweep removes.

mod blobs;
mod bodies;
mod group_commit;
mod journal;
mod layout;
mod list;
mod mapped;
mod md5_lanes;
mod multipart;

pub(crate) use group_commit::still_at;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;

use crate::aws::time::now_epoch;
use crate::store::objects::{Bucket, BucketDeletion, ObjectMeta, ObjectRow};
use crate::store::{Store, StoreError};

pub use blobs::Staged;
pub use list::{ListRequest, Listing};
pub use multipart::{CompletedPart, Completion};

/// S3's own failure kinds; the S3 api maps each to its error code.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    #[error(
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart,
    #[error(
        "The list of parts was not in ascending order. The parts list must be specified in order by part number."
    )]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    #[error("The {0} you specified did not match the calculated checksum.")]
    BadDigest(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ObjectError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "object metadata store failure");
        ObjectError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for ObjectError {
    fn from(e: std::io::Error) -> Self {
        tracing::error!(error = %e, "object file failure");
        ObjectError::Internal(e.to_string())
    }
}

pub type ObjectResult<T> = Result<T, ObjectError>;

/// S3 rejects parts other than the last below 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

#[derive(Clone)]
pub struct Objects {
    store: Store,
    blobs: blobs::Blobs,
    layouts: std::sync::Arc<layout::Layouts>,
    region: String,
}

/// Refuses a new database (see `Store::open`) when the object store under `data_dir` already
/// holds blob files: their names alone do not say which bucket and key they were.
pub fn allow_new_store(data_dir: &Path) -> Result<(), StoreError> {
    let root = data_dir.join("objects");
    let count = blobs::count(&root).map_err(|source| StoreError::Io {
        path: root.display().to_string(),
        source,
    })?;
    if count == 0 {
        return Ok(());
    }
    Err(StoreError::Unknown {
        db: data_dir.join(crate::store::DB_FILE),
        objects: root,
        count,
    })
}

impl Objects {
    pub fn new(store: Store, data_dir: &Path, region: &str) -> std::io::Result<Objects> {
        Ok(Objects {
            store,
            blobs: blobs::Blobs::open(&data_dir.join("objects"))?,
            layouts: Default::default(),
            region: region.to_string(),
        })
    }

    /// Removes temp files and blobs no row points at (left by a crash between a blob's rename
    /// and its metadata commit, or by deletions that were cut short). Only a database that
    /// existed before this run knew the files; against a new one, nothing is swept.
    pub async fn sweep(&self) -> ObjectResult<usize> {
        if self.store.opened_new() {
            return Ok(0);
        }
        let referenced = self.store.referenced_blobs().await?;
        Ok(self.blobs.sweep(&referenced).await?)
    }

    async fn require_bucket(&self, bucket: &str) -> ObjectResult<Bucket> {
        self.store
            .bucket(bucket)
            .await?
            .ok_or(ObjectError::NoSuchBucket)
    }

    // ----- buckets -----

    /// Creates a bucket in `region` (a CreateBucketConfiguration's LocationConstraint), or in
    /// sagebox's own region.
    pub async fn create_bucket(&self, name: &str, region: Option<&str>) -> ObjectResult<()> {
        let region = region
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.region)
            .to_string();
        let b = Bucket {
            name: name.to_string(),
            created: now_epoch(),
            region,
        };
        if self.store.create_bucket(b).await? {
            Ok(())
        } else {
            Err(ObjectError::BucketAlreadyOwnedByYou)
        }
    }

    pub async fn bucket(&self, name: &str) -> ObjectResult<Bucket> {
        self.require_bucket(name).await
    }

    pub async fn list_buckets(&self) -> ObjectResult<Vec<Bucket>> {
        Ok(self.store.list_buckets().await?)
    }

    pub async fn delete_bucket(&self, name: &str) -> ObjectResult<()> {
        match self.store.delete_bucket(name).await? {
            BucketDeletion::Deleted => Ok(()),
            BucketDeletion::NotFound => Err(ObjectError::NoSuchBucket),
            BucketDeletion::NotEmpty => Err(ObjectError::BucketNotEmpty),
        }
    }

    // ----- objects -----

    /// Streams a body into a durable blob, hashing it on the way (MD5 always, plus the named
    /// checksum algorithms). Nothing is visible until `commit_object`.
    pub async fn stage<S, E>(&self, body: S, algorithms: &[&str]) -> ObjectResult<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.blobs.write(body, algorithms).await
    }

    /// Drops a staged blob that will not be committed (a checksum mismatch, a failed
    /// precondition).
    pub async fn discard(&self, staged: Staged) {
        self.blobs.discard(staged);
    }

    /// Makes a staged blob the object's content.
    pub async fn commit_object(
        &self,
        bucket: &str,
        key: &str,
        staged: Staged,
        mut meta: ObjectMeta,
    ) -> ObjectResult<ObjectRow> {
        meta.checksums = staged.checksums.clone();
        if meta.checksum_type.is_none() && !meta.checksums.is_empty() {
            meta.checksum_type = Some("FULL_OBJECT".into());
        }
        let row = ObjectRow {
            bucket: bucket.to_string(),
            key: key.to_string(),
            blob: staged.blob.clone(),
            size: staged.size,
            etag: staged.etag.clone(),
            last_modified: now_epoch(),
            meta,
        };
        match self.store.put_object(row.clone()).await {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    self.blobs.remove(&old);
                }
                Ok(row)
            }
            Err(e) => {
                self.blobs.remove(&staged.blob);
                // The bucket was deleted while the body streamed in (foreign key).
                if self.store.bucket(bucket).await?.is_none() {
                    return Err(ObjectError::NoSuchBucket);
                }
                Err(e.into())
            }
        }
    }

    /// Writes a whole object from a file on the host (an artifact sagebox packed), streaming it.
    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        meta: ObjectMeta,
    ) -> ObjectResult<ObjectRow> {
        self.require_bucket(bucket).await?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(ObjectError::from)?;
        let staged = self
            .stage(tokio_util::io::ReaderStream::new(file), &[])
            .await?;
        self.commit_object(bucket, key, staged, meta).await
    }

    /// Writes a whole object from bytes already in memory (small objects from other services).
    pub async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        meta: ObjectMeta,
    ) -> ObjectResult<ObjectRow> {
        self.require_bucket(bucket).await?;
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(data)]);
        let staged = self.stage(body, &[]).await?;
        self.commit_object(bucket, key, staged, meta).await
    }

    /// The object's metadata and the file holding its bytes. The file is immutable: an overwrite
    /// writes a new file and a reader holding this one keeps reading the old content.
    pub async fn object(&self, bucket: &str, key: &str) -> ObjectResult<(ObjectRow, PathBuf)> {
        match self.store.object(bucket, key).await? {
            Some(row) => {
                let path = self.blobs.path(&row.blob);
                Ok((row, path))
            }
            None => {
                self.require_bucket(bucket).await?;
                Err(ObjectError::NoSuchKey)
            }
        }
    }

    /// `len` bytes of `row`'s content from `start`, in one piece (for ranges up to a few
    /// hundred KiB; small objects are answered from memory once read).
    pub async fn read_small(&self, row: &ObjectRow, start: u64, len: usize) -> ObjectResult<Bytes> {
        Ok(self
            .blobs
            .read_small(&row.blob, row.size, start, len)
            .await?)
    }

    /// `len` (> 0) bytes of `row`'s content from `start`, streamed from a memory map of its
    /// file (for large ranges; see `mapped`).
    pub async fn read_large(
        &self,
        row: &ObjectRow,
        start: u64,
        len: u64,
    ) -> ObjectResult<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static> {
        Ok(mapped::read_mapped(self.blobs.path(&row.blob), start, len).await?)
    }

    /// The file holding a blob (an `ObjectRow::blob`), for zero-copy staging.
    pub fn blob_path(&self, blob: &str) -> PathBuf {
        self.blobs.path(blob)
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> ObjectResult<()> {
        match self.store.delete_object(bucket, key).await? {
            Some(blob) => {
                self.blobs.remove(&blob);
                Ok(())
            }
            None => {
                self.require_bucket(bucket).await?;
                Ok(())
            }
        }
    }

    /// Copies an object without copying bytes: blobs are immutable, so the copy hard-links the
    /// source's file. `meta` replaces the metadata (REPLACE directive) or keeps it (COPY).
    pub async fn copy_object(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        meta: Option<ObjectMeta>,
    ) -> ObjectResult<ObjectRow> {
        let (row, _) = self.object(src.0, src.1).await?;
        self.require_bucket(dst.0).await?;
        let staged = self
            .blobs
            .link(&row.blob, row.size, &row.etag, row.meta.checksums.clone())
            .await?;
        let mut meta = meta.unwrap_or_else(|| row.meta.clone());
        // The bytes (hence ETag, checksums and part layout) are the source's.
        meta.checksums = row.meta.checksums.clone();
        meta.checksum_type = row.meta.checksum_type.clone();
        meta.parts = row.meta.parts.clone();
        self.commit_object(dst.0, dst.1, staged, meta).await
    }

    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> ObjectResult<()> {
        let (mut row, _) = self.object(bucket, key).await?;
        let mut tags = tags;
        tags.sort();
        row.meta.tags = tags;
        if self.store.update_object_meta(bucket, key, row.meta).await? {
            Ok(())
        } else {
            Err(ObjectError::NoSuchKey)
        }
    }

    /// Bucket tags live in the shared tag table under the bucket's ARN.
    pub async fn bucket_tags(&self, bucket: &str) -> ObjectResult<Vec<(String, String)>> {
        self.require_bucket(bucket).await?;
        let arn = format!("arn:aws:s3:::{bucket}");
        Ok(self
            .store
            .call(move |c| crate::store::tags::list(c, &arn))
            .await?)
    }

    /// Replaces the bucket's tag set (empty: removes it).
    pub async fn set_bucket_tags(
        &self,
        bucket: &str,
        tags: Vec<(String, String)>,
    ) -> ObjectResult<()> {
        self.require_bucket(bucket).await?;
        let arn = format!("arn:aws:s3:::{bucket}");
        self.store
            .call(move |c| {
                let tx = c.transaction()?;
                crate::store::tags::delete_all(&tx, &arn)?;
                crate::store::tags::put(&tx, &arn, &tags)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Stages `len` bytes of an object's file from `start` (UploadPartCopy).
    /// `algorithm`: the checksum the upload's parts get, if it named one.
    pub async fn stage_range(
        &self,
        path: &Path,
        start: u64,
        len: u64,
        algorithm: Option<&str>,
    ) -> ObjectResult<Staged> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let mut file = tokio::fs::File::open(path).await?;
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024);
        self.stage(body, algorithm.as_slice()).await
    }

    pub async fn list(&self, req: &ListRequest) -> ObjectResult<Listing> {
        self.require_bucket(&req.bucket).await?;
        list::list(&self.store, req).await
    }
}
