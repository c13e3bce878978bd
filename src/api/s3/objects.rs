//! Objects: PUT (with If-Match / If-None-Match), GET and HEAD (ranges, preconditions, checksums on
//! request), DELETE, multi-object delete, copy (with the metadata directive) and object tags.

use s3s::dto::*;
use std::collections::HashMap;

use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio_util::io::ReaderStream;

use super::checksums::checksum_fields;
use super::*;

/// Evaluates GET/HEAD preconditions (If-Match, If-None-Match, If-Modified-Since,
/// If-Unmodified-Since) as RFC 9110 and S3 order them.
pub(super) fn check_preconditions(
    etag_hex: &str,
    last_modified: f64,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let current = etag(etag_hex);
    let lm = last_modified.floor();
    match if_match {
        Some(ETagCondition::Any) => {}
        Some(ETagCondition::ETag(e)) if !current.strong_cmp(e) => {
            return Err(s3_error!(PreconditionFailed));
        }
        Some(_) => {}
        None => {
            if let Some(t) = if_unmodified_since
                && lm > epoch_of(t)
            {
                return Err(s3_error!(PreconditionFailed));
            }
        }
    }
    match if_none_match {
        Some(ETagCondition::Any) => return Err(not_modified_error(etag_hex)),
        Some(ETagCondition::ETag(e)) if current.weak_cmp(e) => {
            return Err(not_modified_error(etag_hex));
        }
        Some(_) => {}
        None => {
            if let Some(t) = if_modified_since
                && lm <= epoch_of(t)
            {
                return Err(not_modified_error(etag_hex));
            }
        }
    }
    Ok(())
}

/// 304 Not Modified, which S3 sends without a body.
pub(super) fn not_modified_error(etag_hex: &str) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::Custom("NotModified".into()));
    e.set_status_code(http::StatusCode::NOT_MODIFIED);
    // A 304 still names the current version, so caches can revalidate.
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag_hex}\"")) {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::ETAG, v);
        e.set_headers(h);
    }
    e
}

impl S3Api {
    pub(super) async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req
            .extensions
            .get::<crate::api::s3::anonymous::Trailers>()
            .cloned();
        let input = req.input;
        let Some(mut body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        if let Err(e) = self.objects.bucket(&input.bucket).await {
            drain(&mut body).await;
            return Err(map_err(e));
        }
        // If-Match: only overwrite the version the client saw (missing object: NoSuchKey).
        if let Some(cond) = &input.if_match {
            let current = self.objects.object(&input.bucket, &input.key).await;
            let failed = match (&current, cond) {
                (Err(_), _) => Some(s3_error!(NoSuchKey)),
                (Ok(_), ETagCondition::Any) => None,
                (Ok((row, _)), ETagCondition::ETag(e)) => {
                    (!etag(&row.etag).strong_cmp(e)).then(|| {
                        s3_error!(
                            PreconditionFailed,
                            "At least one of the pre-conditions you specified did not hold"
                        )
                    })
                }
            };
            if let Some(err) = failed {
                drain(&mut body).await;
                return Err(err);
            }
        }
        if let Some(cond) = &input.if_none_match
            && cond.is_any()
            && self.objects.object(&input.bucket, &input.key).await.is_ok()
        {
            drain(&mut body).await;
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        let sent = [
            ("CRC32", input.checksum_crc32.clone()),
            ("CRC32C", input.checksum_crc32c.clone()),
            ("SHA1", input.checksum_sha1.clone()),
            ("SHA256", input.checksum_sha256.clone()),
            ("CRC64NVME", input.checksum_crc64nvme.clone()),
        ];
        let staged = self
            .stage_checked(
                body,
                &req.headers,
                trailers,
                input.checksum_algorithm.as_ref(),
                &sent,
                input.content_md5.as_deref(),
            )
            .await?;
        let meta = meta_from(
            input.metadata,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let row = self
            .objects
            .commit_object(&input.bucket, &input.key, staged, meta)
            .await
            .map_err(map_err)?;
        let [crc32, crc32c, sha1, sha256, crc64nvme] = checksum_fields(&row.meta.checksums);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&row.etag)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (row, path) = self
            .objects
            .object(&input.bucket, &input.key)
            .await
            .map_err(map_err)?;
        check_preconditions(
            &row.etag,
            row.last_modified,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| map_err(e.into()))?;
        let (start, len, content_range) = match &input.range {
            None => (0, row.size, None),
            Some(range) => {
                let r = range.check(row.size)?;
                (
                    r.start,
                    r.end - r.start,
                    Some(format!("bytes {}-{}/{}", r.start, r.end - 1, row.size)),
                )
            }
        };
        if start > 0 {
            use tokio::io::AsyncSeekExt;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| map_err(e.into()))?;
        }
        use tokio::io::AsyncReadExt;
        let body = ReaderStream::with_capacity(file.take(len), 256 * 1024);
        let whole = content_range.is_none();
        let want_checksums = whole
            && input
                .checksum_mode
                .as_ref()
                .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let [crc32, crc32c, sha1, sha256, crc64nvme] = if want_checksums {
            checksum_fields(&row.meta.checksums)
        } else {
            Default::default()
        };
        let m = row.meta;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some(len as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            last_modified: Some(timestamp(row.last_modified)),
            e_tag: Some(etag(&row.etag)),
            metadata: (!m.user.is_empty()).then(|| m.user.into_iter().collect::<HashMap<_, _>>()),
            content_type: m.content_type.and_then(|c| c.parse().ok()),
            content_encoding: m.content_encoding,
            content_disposition: m.content_disposition,
            content_language: m.content_language,
            cache_control: m.cache_control,
            tag_count: (!m.tags.is_empty()).then_some(m.tags.len() as i32),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (row, _) = self
            .objects
            .object(&input.bucket, &input.key)
            .await
            .map_err(map_err)?;
        check_preconditions(
            &row.etag,
            row.last_modified,
            input.if_match.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let want_checksums = input
            .checksum_mode
            .as_ref()
            .is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        let [crc32, crc32c, sha1, sha256, crc64nvme] = if want_checksums {
            checksum_fields(&row.meta.checksums)
        } else {
            Default::default()
        };
        let m = row.meta;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(row.size as i64),
            accept_ranges: Some("bytes".into()),
            last_modified: Some(timestamp(row.last_modified)),
            e_tag: Some(etag(&row.etag)),
            metadata: (!m.user.is_empty()).then(|| m.user.into_iter().collect::<HashMap<_, _>>()),
            content_type: m.content_type.and_then(|c| c.parse().ok()),
            content_encoding: m.content_encoding,
            content_disposition: m.content_disposition,
            content_language: m.content_language,
            cache_control: m.cache_control,
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        }))
    }

    pub(super) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.objects
            .delete_object(&req.input.bucket, &req.input.key)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.objects.bucket(&input.bucket).await.map_err(map_err)?;
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            match self.objects.delete_object(&input.bucket, &obj.key).await {
                Ok(()) if !quiet => deleted.push(DeletedObject {
                    key: Some(obj.key),
                    ..Default::default()
                }),
                Ok(()) => {}
                Err(e) => errors.push(Error {
                    key: Some(obj.key),
                    code: Some("InternalError".into()),
                    message: Some(e.to_string()),
                    ..Default::default()
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub(super) async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only bucket copy sources are supported"
                ));
            }
        };
        // x-amz-copy-source-if-*: the same tests as a GET's, but every failure is a 412.
        let (src, _) = self
            .objects
            .object(&src_bucket, &src_key)
            .await
            .map_err(map_err)?;
        check_preconditions(
            &src.etag,
            src.last_modified,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
        )
        .map_err(|_| {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        })?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src_bucket == input.bucket && src_key == input.key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let meta = replace.then(|| {
            meta_from(
                input.metadata,
                input.content_type,
                input.content_encoding,
                input.content_disposition,
                input.content_language,
                input.cache_control,
            )
        });
        let row = self
            .objects
            .copy_object((&src_bucket, &src_key), (&input.bucket, &input.key), meta)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&row.etag)),
                last_modified: Some(timestamp(row.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let (row, _) = self
            .objects
            .object(&req.input.bucket, &req.input.key)
            .await
            .map_err(map_err)?;
        let tag_set = row
            .meta
            .tags
            .into_iter()
            .map(|(k, v)| Tag {
                key: Some(k),
                value: Some(v),
            })
            .collect();
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set,
            ..Default::default()
        }))
    }

    pub(super) async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let tags: Vec<(String, String)> = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        if tags.len() > 10 {
            return Err(s3_error!(
                InvalidTag,
                "Object tags cannot be greater than 10"
            ));
        }
        self.objects
            .set_object_tags(&input.bucket, &input.key, tags)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(PutObjectTaggingOutput::default()))
    }

    pub(super) async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.objects
            .set_object_tags(&req.input.bucket, &req.input.key, Vec::new())
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
    }
}
