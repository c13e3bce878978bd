//! Multipart uploads: an upload collects parts (each a durable blob with its MD5 and checksums)
//! until CompleteMultipartUpload names the ones to keep; their bytes are then concatenated into
//! one new blob and the object row commits with S3's derived values: the ETag (MD5 of the parts'
//! MD5s, `-N`), the checksum of the algorithm the upload named (COMPOSITE: that algorithm over
//! the parts' raw checksums, `-N`; FULL_OBJECT: over the whole object), and the part sizes, so
//! GetObject by PartNumber and GetObjectAttributes can answer later.

use std::collections::BTreeMap;

use super::{MIN_PART_SIZE, ObjectError, ObjectResult, Objects, Staged, blobs};
use crate::aws::time::now_epoch;
use crate::store::objects::{ObjectMeta, ObjectRow, Part, PartMeta, Upload};

/// A part as CompleteMultipartUpload lists it.
#[derive(Debug, Clone, Default)]
pub struct CompletedPart {
    pub number: i64,
    pub etag: String,
    /// Checksums the client sent for this part (by algorithm, base64); each must match.
    pub checksums: BTreeMap<String, String>,
}

/// What CompleteMultipartUpload asks for.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub parts: Vec<CompletedPart>,
    /// The object checksum the client expects (`x-amz-checksum-*`), checked before commit.
    pub checksums: BTreeMap<String, String>,
}

/// S3's ETag for a multipart object: the MD5 of the parts' binary MD5s, then `-<count>`.
fn multipart_etag<'a>(etags: impl ExactSizeIterator<Item = &'a str>) -> ObjectResult<String> {
    let count = etags.len();
    let mut md5s = Vec::with_capacity(count * 16);
    for e in etags {
        md5s.extend(hex::decode(e.trim_matches('"')).map_err(|_| ObjectError::InvalidPart)?);
    }
    Ok(format!("{}-{count}", hex::encode(blobs::md5(&md5s))))
}

/// The checksum type an upload gets: what the client named, else FULL_OBJECT for CRC64NVME
/// (the only type it supports) and COMPOSITE for the others. SHA-1 and SHA-256 cannot be
/// combined, so they are never FULL_OBJECT.
fn checksum_type(algorithm: &str, requested: Option<&str>) -> ObjectResult<&'static str> {
    match (algorithm, requested) {
        ("CRC64NVME", None | Some("FULL_OBJECT")) => Ok("FULL_OBJECT"),
        ("CRC64NVME", Some(_)) => Err(ObjectError::InvalidRequest(
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
                .into(),
        )),
        ("SHA1" | "SHA256", Some("FULL_OBJECT")) => Err(ObjectError::InvalidRequest(format!(
            "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
            algorithm.to_ascii_lowercase()
        ))),
        (_, Some("FULL_OBJECT")) => Ok("FULL_OBJECT"),
        (_, None | Some("COMPOSITE")) => Ok("COMPOSITE"),
        (_, Some(other)) => Err(ObjectError::InvalidArgument(format!(
            "Value for x-amz-checksum-type header is invalid: {other}"
        ))),
    }
}

/// The COMPOSITE checksum: `algorithm` over the concatenated raw part checksums, `-N`.
fn composite_checksum(algorithm: &str, parts: &[Part]) -> ObjectResult<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut hasher = blobs::hasher_for(&[algorithm])?;
    for p in parts {
        let value = p.checksums.get(algorithm).ok_or_else(|| {
            ObjectError::InvalidRequest(format!(
                "The upload was created using the {} checksum algorithm but part {} was uploaded without it.",
                algorithm.to_ascii_lowercase(),
                p.number
            ))
        })?;
        let raw = b64
            .decode(value)
            .map_err(|e| ObjectError::Internal(format!("stored part checksum: {e}")))?;
        hasher.update(&raw);
    }
    let whole = blobs::checksum_map(hasher.finalize());
    let value = whole
        .get(algorithm)
        .ok_or_else(|| ObjectError::Internal(format!("no {algorithm} computed")))?;
    Ok(format!("{value}-{}", parts.len()))
}

impl Objects {
    /// Starts an upload. `checksum` is the algorithm and type CreateMultipartUpload named.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        mut meta: ObjectMeta,
        checksum: (Option<&str>, Option<&str>),
    ) -> ObjectResult<(String, Option<&'static str>)> {
        self.require_bucket(bucket).await?;
        let kind = match checksum {
            (Some(alg), requested) => {
                let alg = alg.to_ascii_uppercase();
                blobs::hasher_for(&[&alg])?;
                let kind = checksum_type(&alg, requested)?;
                meta.checksum_algorithm = Some(alg);
                meta.checksum_type = Some(kind.to_string());
                Some(kind)
            }
            (None, Some(_)) => {
                return Err(ObjectError::InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
                        .into(),
                ));
            }
            (None, None) => None,
        };
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let u = Upload {
            upload_id: upload_id.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            created: now_epoch(),
            meta,
        };
        self.store.create_upload(u).await?;
        Ok((upload_id, kind))
    }

    /// The upload, checked to belong to `bucket`/`key`.
    pub async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> ObjectResult<Upload> {
        match self.store.upload(upload_id).await? {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => {
                self.require_bucket(bucket).await?;
                Err(ObjectError::NoSuchUpload)
            }
        }
    }

    /// Streams part `number` of `upload` (`len` bytes, when the request said) into a durable
    /// blob: into its slot of the upload's shared file when it can have one (see `layout`),
    /// else a blob of its own. Nothing is visible until `commit_part`.
    pub async fn stage_part<S, E>(
        &self,
        upload: &Upload,
        number: i64,
        len: Option<u64>,
        body: S,
        algorithms: &[&str],
    ) -> ObjectResult<Staged>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let slot = self
            .layouts
            .claim(&upload.upload_id, number, len, blobs::new_id);
        match slot {
            Some(slot) => self.blobs.write_slot(body, algorithms, slot).await,
            None => self.blobs.write(body, algorithms).await,
        }
    }

    pub async fn commit_part(
        &self,
        upload: &Upload,
        number: i64,
        staged: Staged,
    ) -> ObjectResult<String> {
        let etag = staged.etag.clone();
        let part = Part {
            number,
            blob: staged.blob.clone(),
            offset: staged.offset,
            size: staged.size,
            etag: etag.clone(),
            modified: now_epoch(),
            checksums: staged.checksums,
        };
        if let Some(old) = self.store.put_part(&upload.upload_id, part).await? {
            self.blobs.remove(&old);
        }
        if let Some(slot) = &staged.slot {
            slot.keep();
        }
        Ok(etag)
    }

    pub async fn parts(&self, upload: &Upload) -> ObjectResult<Vec<Part>> {
        Ok(self.store.parts(&upload.upload_id).await?)
    }

    pub async fn list_uploads(&self, bucket: &str, prefix: &str) -> ObjectResult<Vec<Upload>> {
        self.require_bucket(bucket).await?;
        Ok(self.store.list_uploads(bucket, prefix).await?)
    }

    pub async fn abort_upload(&self, upload: &Upload) -> ObjectResult<()> {
        self.layouts.close(&upload.upload_id);
        for blob in self.store.finish_upload(&upload.upload_id, None).await? {
            self.blobs.remove(&blob);
        }
        Ok(())
    }

    /// A CompleteMultipartUpload sent again for an upload that already completed: S3 answers
    /// it as it did the first time, as long as the object it made is still the current one.
    pub async fn completed_before(
        &self,
        bucket: &str,
        key: &str,
        parts: &[CompletedPart],
    ) -> ObjectResult<Option<ObjectRow>> {
        if parts.is_empty() {
            return Ok(None);
        }
        let Ok(etag) = multipart_etag(parts.iter().map(|p| p.etag.as_str())) else {
            return Ok(None);
        };
        let row = self.store.object(bucket, key).await?;
        Ok(row.filter(|r| r.etag == etag && r.meta.parts.len() == parts.len()))
    }

    /// Assembles the listed parts into the object, after checking them (numbers ascending,
    /// ETags and any part checksums matching, all but the last at least 5 MiB) and the object
    /// checksum the client expects.
    pub async fn complete_upload(
        &self,
        upload: &Upload,
        completion: &Completion,
    ) -> ObjectResult<ObjectRow> {
        let wanted = &completion.parts;
        if wanted.is_empty() {
            return Err(ObjectError::InvalidRequest(
                "You must specify at least one part".into(),
            ));
        }
        if wanted.windows(2).any(|w| w[1].number <= w[0].number) {
            return Err(ObjectError::InvalidPartOrder);
        }
        let stored: BTreeMap<i64, Part> = self
            .parts(upload)
            .await?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        let mut chosen = Vec::with_capacity(wanted.len());
        for w in wanted {
            let part = stored.get(&w.number).ok_or(ObjectError::InvalidPart)?;
            let checksums_match = w
                .checksums
                .iter()
                .all(|(alg, v)| part.checksums.get(alg) == Some(v));
            if part.etag != w.etag.trim_matches('"') || !checksums_match {
                return Err(ObjectError::InvalidPart);
            }
            chosen.push(part.clone());
        }
        if chosen[..chosen.len() - 1]
            .iter()
            .any(|p| p.size < MIN_PART_SIZE)
        {
            return Err(ObjectError::EntityTooSmall);
        }
        let etag = multipart_etag(chosen.iter().map(|p| p.etag.as_str()))?;
        let algorithm = upload.meta.checksum_algorithm.clone();
        let full_object = upload.meta.checksum_type.as_deref() == Some("FULL_OBJECT");
        let mut checksums = BTreeMap::new();
        if let Some(alg) = &algorithm
            && !full_object
        {
            checksums.insert(alg.clone(), composite_checksum(alg, &chosen)?);
            check_expected(&completion.checksums, &checksums)?;
        }
        // In place when the parts lie end to end from the start of the upload's shared file
        // and this call closed it with nothing still writing; else the parts are copied.
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        let in_place = self
            .layouts
            .close(&upload.upload_id)
            .filter(|blob| end_to_end(blob, &chosen));
        // Whether the blob is new (the copy), to delete if the object is not committed.
        let copied = in_place.is_none();
        let blob = match &in_place {
            Some(blob) => blob.clone(),
            None => {
                let pieces: Vec<(String, u64, u64)> = chosen
                    .iter()
                    .map(|p| (p.blob.clone(), p.offset, p.size))
                    .collect();
                self.blobs.concat(&pieces).await?
            }
        };
        let dropped = |e: ObjectError| {
            if copied {
                self.blobs.remove(&blob);
            }
            e
        };
        if let Some(alg) = &algorithm
            && full_object
        {
            checksums = self
                .blobs
                .hash(&blob, size, alg)
                .await
                .and_then(|c| check_expected(&completion.checksums, &c).map(|()| c))
                .map_err(dropped)?;
        }
        if in_place.is_some() {
            // Past the object's end the shared file may hold parts left out of it.
            self.blobs.adopt(&blob, size).await?;
        }
        let mut meta = upload.meta.clone();
        meta.checksum_algorithm = None;
        meta.checksum_type = algorithm.as_ref().and(upload.meta.checksum_type.clone());
        meta.checksums = checksums;
        meta.parts = chosen
            .iter()
            .map(|p| PartMeta {
                size: p.size,
                checksums: p.checksums.clone(),
            })
            .collect();
        let row = ObjectRow {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            blob: blob.clone(),
            size,
            etag,
            last_modified: now_epoch(),
            meta,
        };
        match self
            .store
            .finish_upload(&upload.upload_id, Some(row.clone()))
            .await
        {
            Ok(freed) => {
                for blob in freed {
                    self.blobs.remove(&blob);
                }
                Ok(row)
            }
            Err(e) => Err(dropped(e.into())),
        }
    }
}

/// Whether `parts` lie end to end in `blob` from its start (the upload's file is the object).
fn end_to_end(blob: &str, parts: &[Part]) -> bool {
    let mut at = 0;
    parts.iter().all(|p| {
        let next = p.blob == blob && p.offset == at;
        at += p.size;
        next
    })
}

/// The object checksums the client sent must equal the computed ones (for the algorithms
/// computed; S3 keeps one checksum per object).
fn check_expected(
    expected: &BTreeMap<String, String>,
    computed: &BTreeMap<String, String>,
) -> ObjectResult<()> {
    for (alg, value) in expected {
        if let Some(have) = computed.get(alg)
            && have != value
        {
            return Err(ObjectError::BadDigest(alg.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_hash_the_part_md5s() {
        // Two parts whose MD5s are all zeros and all ones.
        let e = multipart_etag(["0".repeat(32), "f".repeat(32)].iter().map(String::as_str));
        let mut raw = vec![0u8; 16];
        raw.extend([0xffu8; 16]);
        assert_eq!(e.unwrap(), format!("{}-2", hex::encode(blobs::md5(&raw))));
        assert!(multipart_etag(["zz"].into_iter()).is_err());
    }

    #[test]
    fn checksum_types_follow_the_algorithm() {
        assert_eq!(checksum_type("CRC64NVME", None).unwrap(), "FULL_OBJECT");
        assert_eq!(checksum_type("CRC32", None).unwrap(), "COMPOSITE");
        assert_eq!(
            checksum_type("CRC32C", Some("FULL_OBJECT")).unwrap(),
            "FULL_OBJECT"
        );
        assert!(checksum_type("SHA256", Some("FULL_OBJECT")).is_err());
        assert!(checksum_type("CRC64NVME", Some("COMPOSITE")).is_err());
    }

    #[test]
    fn composite_checksums_hash_the_raw_part_checksums() {
        // s3-tests' known value: one 1024-byte part of 'A', SHA-256.
        let part = Part {
            number: 1,
            blob: String::new(),
            offset: 0,
            size: 1024,
            etag: String::new(),
            modified: 0.0,
            checksums: [(
                "SHA256".to_string(),
                "arcu6553sHVAiX4MjW0j7I7vD4w6R+Gz9Ok0Q9lTa+0=".to_string(),
            )]
            .into(),
        };
        assert_eq!(
            composite_checksum("SHA256", &[part]).unwrap(),
            "Ok6Cs5b96ux6+MWQkJO7UBT5sKPBeXBLwvj/hK89smg=-1"
        );
    }
}
