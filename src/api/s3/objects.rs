//! Objects: PUT (with If-Match / If-None-Match), GET and HEAD (ranges, preconditions, checksums on
//! request), DELETE, multi-object delete, copy (with the metadata directive) and object tags.

use s3s::dto::*;
use std::collections::HashMap;

use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::checksums::{checksum_fields, sent_checksums};
use super::*;
use crate::store::objects::ObjectRow;

/// GET bodies up to this size are read whole in one trip to the blocking pool.
const SMALL_READ: u64 = 256 << 10;

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

/// The bytes a GET or HEAD answers with: the whole object, a Range, or one part of a multipart
/// object (`partNumber`).
pub(super) struct Selection {
    start: u64,
    len: u64,
    content_range: Option<String>,
    parts_count: Option<i32>,
    /// A Range or a part (answered 206), not the whole object.
    partial: bool,
    /// The part whose checksums apply, for a part of a multipart object.
    part: Option<usize>,
}

pub(super) fn select(
    row: &ObjectRow,
    range: Option<&Range>,
    part_number: Option<i32>,
) -> S3Result<Selection> {
    let whole = Selection {
        start: 0,
        len: row.size,
        content_range: None,
        parts_count: None,
        partial: false,
        part: None,
    };
    match (range, part_number) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter"
        )),
        (Some(range), None) => {
            let r = range.check(row.size)?;
            Ok(Selection {
                start: r.start,
                len: r.end - r.start,
                content_range: Some(format!("bytes {}-{}/{}", r.start, r.end - 1, row.size)),
                partial: true,
                ..whole
            })
        }
        (None, Some(n)) => {
            let parts = &row.meta.parts;
            let invalid = || s3_error!(InvalidPart, "The requested partnumber is not satisfiable");
            if parts.is_empty() {
                // An object uploaded whole is its own part 1.
                return if n == 1 { Ok(whole) } else { Err(invalid()) };
            }
            let index = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .filter(|i| *i < parts.len())
                .ok_or_else(invalid)?;
            let start: u64 = parts[..index].iter().map(|p| p.size).sum();
            let len = parts[index].size;
            Ok(Selection {
                start,
                len,
                content_range: (len > 0)
                    .then(|| format!("bytes {start}-{}/{}", start + len - 1, row.size)),
                parts_count: Some(parts.len() as i32),
                partial: true,
                part: Some(index),
            })
        }
        (None, None) => Ok(whole),
    }
}

impl Selection {
    /// Checksums are sent when the client asks (ChecksumMode) and they describe what is sent:
    /// the whole object's, or a part's; never a Range's.
    pub(super) fn checksums(
        &self,
        mode: Option<&ChecksumMode>,
        row: &ObjectRow,
    ) -> [Option<String>; 5] {
        let wanted = mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED);
        match self.part {
            _ if !wanted => Default::default(),
            Some(i) => checksum_fields(&row.meta.parts[i].checksums),
            None if self.content_range.is_none() => checksum_fields(&row.meta.checksums),
            None => Default::default(),
        }
    }
}

/// The type of the checksums a GET or HEAD sends (none when it sends none).
pub(super) fn checksum_type(sent: &[Option<String>; 5], row: &ObjectRow) -> Option<ChecksumType> {
    let any = sent.iter().any(Option::is_some);
    any.then(|| row.meta.checksum_type.clone().map(ChecksumType::from))
        .flatten()
}

/// An `Expires` value stored as the client sent it.
pub(super) fn parse_http_date(s: Option<&str>) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::HttpDate, s?).ok()
}

impl S3Api {
    /// Conditional writes (PutObject, CompleteMultipartUpload): If-Match overwrites only the
    /// version the client saw (no object: NoSuchKey); If-None-Match `*` writes only a new key,
    /// and with an ETag only over a different version.
    pub(super) async fn write_preconditions(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        if if_match.is_none() && if_none_match.is_none() {
            return Ok(());
        }
        let current = self.objects.object(bucket, key).await.ok();
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        match (if_match, &current) {
            (Some(_), None) => return Err(s3_error!(NoSuchKey)),
            (Some(ETagCondition::ETag(e)), Some((row, _))) if !etag(&row.etag).strong_cmp(e) => {
                return Err(failed());
            }
            _ => {}
        }
        match (if_none_match, &current) {
            (Some(ETagCondition::Any), Some(_)) => Err(failed()),
            (Some(ETagCondition::ETag(e)), Some((row, _))) if etag(&row.etag).weak_cmp(e) => {
                Err(failed())
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req
            .extensions
            .get::<crate::api::s3::anonymous::Trailers>()
            .cloned();
        let verdict = req
            .extensions
            .get::<crate::api::s3::payload::PayloadVerdict>()
            .cloned();
        let input = req.input;
        let Some(mut body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let checks = match self.objects.bucket(&input.bucket).await {
            Err(e) => Err(map_err(e)),
            Ok(_) => {
                self.write_preconditions(
                    &input.bucket,
                    &input.key,
                    input.if_match.as_ref(),
                    input.if_none_match.as_ref(),
                )
                .await
            }
        };
        let meta = checks.and_then(|()| object_meta!(input));
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                drain(&mut body).await;
                return Err(e);
            }
        };
        let sent = sent_checksums!(input);
        let staged = self
            .stage_checked(
                body,
                None,
                &req.headers,
                trailers,
                verdict,
                input.checksum_algorithm.as_ref(),
                &sent,
                input.content_md5.as_deref(),
            )
            .await?;
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
        let sel = select(&row, input.range.as_ref(), input.part_number)?;
        let body = if sel.len <= SMALL_READ {
            // The whole body in one piece, from memory for a small object read before, else
            // with one trip to the blocking pool instead of an open, a seek and reads.
            let bytes = self
                .objects
                .read_small(&row, sel.start, sel.len as usize)
                .await
                .map_err(map_err)?;
            StreamingBlob::wrap(futures_util::stream::once(async move {
                Ok::<_, std::io::Error>(bytes)
            }))
        } else {
            StreamingBlob::wrap(
                self.objects
                    .read_large(&row, sel.start, sel.len)
                    .await
                    .map_err(map_err)?,
            )
        };
        let sent = sel.checksums(input.checksum_mode.as_ref(), &row);
        let checksum_type = checksum_type(&sent, &row);
        let [crc32, crc32c, sha1, sha256, crc64nvme] = sent;
        let m = row.meta;
        let mut resp = S3Response::new(GetObjectOutput {
            body: Some(body),
            content_length: Some(sel.len as i64),
            content_range: sel.content_range,
            parts_count: sel.parts_count,
            accept_ranges: Some("bytes".into()),
            last_modified: Some(timestamp(row.last_modified)),
            e_tag: Some(etag(&row.etag)),
            metadata: (!m.user.is_empty()).then(|| m.user.into_iter().collect::<HashMap<_, _>>()),
            content_type: input
                .response_content_type
                .or_else(|| m.content_type.and_then(|c| c.parse().ok())),
            content_encoding: input.response_content_encoding.or(m.content_encoding),
            content_disposition: input.response_content_disposition.or(m.content_disposition),
            content_language: input.response_content_language.or(m.content_language),
            cache_control: input.response_cache_control.or(m.cache_control),
            expires: input
                .response_expires
                .or_else(|| parse_http_date(m.expires.as_deref())),
            tag_count: (!m.tags.is_empty()).then_some(m.tags.len() as i32),
            checksum_type,
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        });
        if sel.partial {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
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
        let sel = select(&row, input.range.as_ref(), input.part_number)?;
        let sent = sel.checksums(input.checksum_mode.as_ref(), &row);
        let checksum_type = checksum_type(&sent, &row);
        let [crc32, crc32c, sha1, sha256, crc64nvme] = sent;
        let m = row.meta;
        let tag_count = m.tags.len();
        let mut resp = S3Response::new(HeadObjectOutput {
            content_length: Some(sel.len as i64),
            content_range: sel.content_range,
            parts_count: sel.parts_count,
            accept_ranges: Some("bytes".into()),
            last_modified: Some(timestamp(row.last_modified)),
            e_tag: Some(etag(&row.etag)),
            metadata: (!m.user.is_empty()).then(|| m.user.into_iter().collect::<HashMap<_, _>>()),
            content_type: m.content_type.and_then(|c| c.parse().ok()),
            content_encoding: m.content_encoding,
            content_disposition: m.content_disposition,
            content_language: m.content_language,
            cache_control: m.cache_control,
            expires: parse_http_date(m.expires.as_deref()),
            checksum_type,
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        });
        // HeadObject's model has no tag count, but S3 sends the header as GetObject does.
        if tag_count > 0 {
            resp.headers
                .insert("x-amz-tagging-count", http::HeaderValue::from(tag_count));
        }
        if sel.partial {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
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
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
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
        let (src_bucket, src_key) = copy_source(&input.copy_source)?;
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
        let meta = if replace {
            Some(object_meta!(input)?)
        } else {
            None
        };
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
        let tag_set = tag_set(row.meta.tags);
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
        let tags = tags_of(input.tagging);
        check_tags(&tags, 10)?;
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
