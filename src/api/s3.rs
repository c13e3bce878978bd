//! S3 (REST-XML) through the s3s crate: s3s parses requests, checks signatures when configured
//! and renders responses and errors; this module turns each operation into calls on the object
//! service (`service::objects`) and maps its errors to S3's codes.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use s3s::dto::*;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use tokio_util::io::ReaderStream;

use crate::service::objects::{ListRequest, ObjectError, Objects};
use crate::store::objects::ObjectMeta;

/// The S3 service the gateway falls back to.
pub fn service(objects: Objects) -> S3Service {
    let mut b = S3ServiceBuilder::new(S3Api { objects });
    // No S3Auth: every access key is accepted and signatures are not checked (sagebox's
    // default mode); aws-chunked bodies are still decoded.
    b.set_host(LocalHost);
    b.build()
}

/// Virtual-host addressing for `<bucket>.localhost[:port]` and `<bucket>.s3.localhost[:port]`;
/// every other host (IPs, `host.docker.internal`, network aliases) is path style.
struct LocalHost;

impl S3Host for LocalHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        for base in [".s3.localhost", ".localhost"] {
            if let Some(bucket) = name.strip_suffix(base).filter(|b| !b.is_empty()) {
                return Ok(VirtualHost::new(host).with_bucket(bucket));
            }
        }
        Ok(VirtualHost::new(host))
    }
}

struct S3Api {
    objects: Objects,
}

fn map_err(e: ObjectError) -> S3Error {
    let code = match &e {
        ObjectError::NoSuchBucket => S3ErrorCode::NoSuchBucket,
        ObjectError::NoSuchKey => S3ErrorCode::NoSuchKey,
        ObjectError::BucketAlreadyOwnedByYou => S3ErrorCode::BucketAlreadyOwnedByYou,
        ObjectError::BucketNotEmpty => S3ErrorCode::BucketNotEmpty,
        ObjectError::NoSuchUpload => S3ErrorCode::NoSuchUpload,
        ObjectError::InvalidPart => S3ErrorCode::InvalidPart,
        ObjectError::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        ObjectError::EntityTooSmall => S3ErrorCode::EntityTooSmall,
        ObjectError::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        ObjectError::Internal(_) => S3ErrorCode::InternalError,
    };
    S3Error::with_message(code, e.to_string())
}

fn timestamp(epoch: f64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_secs_f64(epoch.max(0.0)))
}

fn epoch_of(t: &Timestamp) -> f64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos() as f64 / 1e9
}

fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_string())
}

/// S3 names buckets 3–63 characters of lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit, not shaped like an IP address.
fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

#[allow(clippy::too_many_arguments)]
fn meta_from(
    metadata: Option<Metadata>,
    content_type: Option<ContentType>,
    content_encoding: Option<ContentEncoding>,
    content_disposition: Option<ContentDisposition>,
    content_language: Option<ContentLanguage>,
    cache_control: Option<CacheControl>,
) -> ObjectMeta {
    ObjectMeta {
        content_type: content_type.map(|c| c.to_string()),
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        user: metadata
            .map(|m| m.into_iter().collect())
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// The checksum algorithms a request asks the server to compute: the one it names and the ones
/// whose values it sends (in headers now or in trailers later).
fn requested_algorithms(
    algorithm: Option<&ChecksumAlgorithm>,
    sent: &[(&'static str, bool)],
    trailer: Option<&str>,
) -> Vec<&'static str> {
    let mut algs: Vec<&'static str> = sent.iter().filter(|(_, s)| *s).map(|(a, _)| *a).collect();
    let named = algorithm.map(|a| a.as_str().to_ascii_uppercase());
    let trailer = trailer.map(|t| t.trim_start_matches("x-amz-checksum-").to_ascii_uppercase());
    for name in [named, trailer].into_iter().flatten() {
        if let Some(a) = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"]
            .into_iter()
            .find(|a| *a == name)
            && !algs.contains(&a)
        {
            algs.push(a);
        }
    }
    algs
}

/// Checks the computed checksums against the values the client sent in headers or trailers.
fn verify_checksums(
    computed: &std::collections::BTreeMap<String, String>,
    sent: &[(&'static str, Option<String>)],
    trailers: Option<&http::HeaderMap>,
) -> S3Result<()> {
    for (alg, value) in sent {
        let from_trailer = trailers
            .and_then(|t| t.get(format!("x-amz-checksum-{}", alg.to_ascii_lowercase())))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(expected) = value.clone().or(from_trailer)
            && computed.get(*alg) != Some(&expected)
        {
            return Err(s3_error!(
                BadDigest,
                "The {alg} you specified did not match the calculated checksum."
            ));
        }
    }
    Ok(())
}

fn content_md5_ok(content_md5: Option<&str>, etag_hex: &str) -> S3Result<()> {
    use base64::Engine;
    if let Some(b64) = content_md5 {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
        if hex::encode(raw) != etag_hex {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    Ok(())
}

/// S3's percent-encoding for `encoding-type=url` listings.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_token(token: &str) -> S3Result<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

fn checksum_fields(c: &std::collections::BTreeMap<String, String>) -> [Option<String>; 5] {
    ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"].map(|a| c.get(a).cloned())
}

/// Evaluates GET/HEAD preconditions (If-Match, If-None-Match, If-Modified-Since,
/// If-Unmodified-Since) as RFC 9110 and S3 order them.
fn check_preconditions(
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

/// Reads and drops (up to a bound) the body of a request refused before its body was needed, so
/// the client finishes sending and reads the error instead of seeing the connection closed.
async fn drain(body: &mut StreamingBlob) {
    use futures_util::StreamExt;
    let mut left: usize = 64 * 1024 * 1024;
    while let Some(Ok(chunk)) = body.next().await {
        left = left.saturating_sub(chunk.len());
        if left == 0 {
            break;
        }
    }
}

/// 304 Not Modified, which S3 sends without a body.
fn not_modified_error(etag_hex: &str) -> S3Error {
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
    /// Streams a PutObject/UploadPart body into a staged blob, computing the checksums the
    /// request names, and checks them (and Content-MD5) against the values sent in headers or
    /// trailers; a mismatch discards the blob.
    async fn stage_checked(
        &self,
        body: StreamingBlob,
        headers: &http::HeaderMap,
        trailers: Option<crate::api::s3_anonymous::Trailers>,
        algorithm: Option<&ChecksumAlgorithm>,
        sent: &[(&'static str, Option<String>); 5],
        content_md5: Option<&str>,
    ) -> S3Result<crate::service::objects::Staged> {
        let trailer_name = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok());
        let algs = requested_algorithms(
            algorithm,
            &sent.each_ref().map(|(a, v)| (*a, v.is_some())),
            trailer_name,
        );
        let staged = self.objects.stage(body, &algs).await.map_err(map_err)?;
        let trailer_map = trailers.as_ref().and_then(|t| t.get());
        let checked = verify_checksums(&staged.checksums, sent, trailer_map.as_ref())
            .and_then(|()| content_md5_ok(content_md5, &staged.etag));
        match checked {
            Ok(()) => Ok(staged),
            Err(e) => {
                self.objects.discard(staged).await;
                Err(e)
            }
        }
    }
}

#[async_trait::async_trait]
impl S3 for S3Api {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let region = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|l| l.as_str().to_string());
        let bucket = req.input.bucket;
        if !valid_bucket_name(&bucket) {
            return Err(s3_error!(
                InvalidBucketName,
                "The specified bucket is not valid."
            ));
        }
        self.objects
            .create_bucket(&bucket, region.as_deref())
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{bucket}")),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let b = self
            .objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(b.region),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets = self.objects.list_buckets().await.map_err(map_err)?;
        let buckets = buckets
            .into_iter()
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(timestamp(b.created)),
                bucket_region: Some(b.region),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("sagebox".into()),
                id: Some("sagebox".into()),
            }),
            ..Default::default()
        }))
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.objects
            .delete_bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let b = self
            .objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        // us-east-1 is reported as an empty LocationConstraint.
        let location_constraint =
            (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint,
        }))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.objects
            .bucket(&req.input.bucket)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req
            .extensions
            .get::<crate::api::s3_anonymous::Trailers>()
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

    async fn get_object(
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

    async fn head_object(
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

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.objects
            .delete_object(&req.input.bucket, &req.input.key)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
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

    async fn copy_object(
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

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let listing = self
            .objects
            .list(&ListRequest {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone(),
                after: input.marker.clone().unwrap_or_default(),
                max_keys,
            })
            .await
            .map_err(map_err)?;
        let next_marker = (listing.is_truncated && input.delimiter.is_some())
            .then(|| listing.last.clone())
            .flatten();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
            marker: Some(input.marker.map(enc).unwrap_or_default()),
            next_marker: next_marker.map(enc),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(listing.is_truncated),
            contents: Some(
                listing
                    .objects
                    .into_iter()
                    .map(|o| object_entry(o, url))
                    .collect(),
            ),
            common_prefixes: Some(
                listing
                    .common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match &input.continuation_token {
            Some(t) => decode_token(t)?,
            None => input.start_after.clone().unwrap_or_default(),
        };
        let listing = self
            .objects
            .list(&ListRequest {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone(),
                after,
                max_keys,
            })
            .await
            .map_err(map_err)?;
        let key_count = (listing.objects.len() + listing.common_prefixes.len()) as i32;
        let next = listing
            .is_truncated
            .then(|| listing.last.as_deref().map(encode_token))
            .flatten();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
            max_keys: Some(max_keys as i32),
            key_count: Some(key_count),
            is_truncated: Some(listing.is_truncated),
            continuation_token: input.continuation_token,
            next_continuation_token: next,
            start_after: input.start_after.map(enc),
            contents: Some(
                listing
                    .objects
                    .into_iter()
                    .map(|o| object_entry(o, url))
                    .collect(),
            ),
            common_prefixes: Some(
                listing
                    .common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    /// Buckets are never versioned: every object is its one version, `null`, and the latest.
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        let enc = |s: String| if url { url_encode(&s) } else { s };
        let max_keys = input.max_keys.unwrap_or(1000).clamp(0, 1000) as usize;
        let prefix = input.prefix.clone().unwrap_or_default();
        let listing = self
            .objects
            .list(&ListRequest {
                bucket: input.bucket.clone(),
                prefix: prefix.clone(),
                delimiter: input.delimiter.clone(),
                after: input.key_marker.clone().unwrap_or_default(),
                max_keys,
            })
            .await
            .map_err(map_err)?;
        let versions = listing
            .objects
            .into_iter()
            .map(|o| ObjectVersion {
                key: Some(enc(o.key)),
                version_id: Some("null".into()),
                is_latest: Some(true),
                size: Some(o.size as i64),
                e_tag: Some(etag(&o.etag)),
                last_modified: Some(timestamp(o.last_modified)),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(prefix)),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
            key_marker: input.key_marker.map(enc),
            next_version_id_marker: listing.is_truncated.then(|| "null".to_string()),
            next_key_marker: listing
                .is_truncated
                .then_some(listing.last)
                .flatten()
                .map(enc),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(listing.is_truncated),
            versions: Some(versions),
            common_prefixes: Some(
                listing
                    .common_prefixes
                    .into_iter()
                    .map(|p| CommonPrefix {
                        prefix: Some(enc(p)),
                    })
                    .collect(),
            ),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let meta = meta_from(
            input.metadata,
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
        );
        let upload_id = self
            .objects
            .create_upload(&input.bucket, &input.key, meta)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req
            .extensions
            .get::<crate::api::s3_anonymous::Trailers>()
            .cloned();
        let input = req.input;
        let Some(mut body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        if !(1..=10_000).contains(&input.part_number) {
            drain(&mut body).await;
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload = match self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
        {
            Ok(u) => u,
            Err(e) => {
                drain(&mut body).await;
                return Err(map_err(e));
            }
        };
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
        let checksums = staged.checksums.clone();
        let e = self
            .objects
            .commit_part(&upload, i64::from(input.part_number), staged)
            .await
            .map_err(map_err)?;
        let [crc32, crc32c, sha1, sha256, crc64nvme] = checksum_fields(&checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&e)),
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_crc64nvme: crc64nvme,
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        let parts: Vec<(i64, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let tag = match p.e_tag {
                    Some(ETag::Strong(s) | ETag::Weak(s)) => s,
                    _ => String::new(),
                };
                (i64::from(p.part_number.unwrap_or(0)), tag)
            })
            .collect();
        let row = self
            .objects
            .complete_upload(&upload, &parts)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(row.bucket.clone()),
            key: Some(row.key.clone()),
            e_tag: Some(etag(&row.etag)),
            location: Some(format!("/{}/{}", row.bucket, row.key)),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        self.objects.abort_upload(&upload).await.map_err(map_err)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(1, 1000) as usize;
        let all: Vec<_> = self
            .objects
            .parts(&upload)
            .await
            .map_err(map_err)?
            .into_iter()
            .filter(|p| p.number > i64::from(marker))
            .collect();
        let truncated = all.len() > max;
        let page: Vec<_> = all.into_iter().take(max).collect();
        let next = page.last().map(|p| p.number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: if truncated { next } else { None },
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                page.into_iter()
                    .map(|p| Part {
                        part_number: Some(p.number as i32),
                        e_tag: Some(etag(&p.etag)),
                        size: Some(p.size as i64),
                        last_modified: Some(timestamp(p.modified)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let uploads = self
            .objects
            .list_uploads(&input.bucket, &prefix)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            max_uploads: Some(1000),
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|u| MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(timestamp(u.created)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        if !(1..=10_000).contains(&input.part_number) {
            return Err(s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload = self
            .objects
            .upload(&input.bucket, &input.key, &input.upload_id)
            .await
            .map_err(map_err)?;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket.to_string(), key.to_string()),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "Only bucket copy sources are supported"
                ));
            }
        };
        let (src, path) = self
            .objects
            .object(&src_bucket, &src_key)
            .await
            .map_err(map_err)?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(r) => {
                let parsed = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                    .filter(|(a, b)| a <= b && *b < src.size);
                let (a, b) = parsed.ok_or_else(|| {
                    s3_error!(InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
                })?;
                (a, b - a + 1)
            }
        };
        let staged = self
            .objects
            .stage_range(&path, start, len)
            .await
            .map_err(map_err)?;
        let e = self
            .objects
            .commit_part(&upload, i64::from(input.part_number), staged)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&e)),
                last_modified: Some(timestamp(crate::aws::time::now_epoch())),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let tags = self
            .objects
            .bucket_tags(&req.input.bucket)
            .await
            .map_err(map_err)?;
        if tags.is_empty() {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("NoSuchTagSet".into()),
                "The TagSet does not exist",
            );
            e.set_status_code(http::StatusCode::NOT_FOUND);
            return Err(e);
        }
        let tag_set = tags
            .into_iter()
            .map(|(k, v)| Tag {
                key: Some(k),
                value: Some(v),
            })
            .collect();
        Ok(S3Response::new(GetBucketTaggingOutput { tag_set }))
    }

    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let input = req.input;
        let tags: Vec<(String, String)> = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        if tags.len() > 50 {
            return Err(s3_error!(
                InvalidTag,
                "Bucket tag count cannot be greater than 50"
            ));
        }
        self.objects
            .set_bucket_tags(&input.bucket, tags)
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(PutBucketTaggingOutput::default()))
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.objects
            .set_bucket_tags(&req.input.bucket, Vec::new())
            .await
            .map_err(map_err)?;
        Ok(S3Response::new(DeleteBucketTaggingOutput::default()))
    }

    async fn get_object_tagging(
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

    async fn put_object_tagging(
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

    async fn delete_object_tagging(
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

fn object_entry(o: crate::store::objects::ObjectRow, url: bool) -> Object {
    Object {
        key: Some(if url { url_encode(&o.key) } else { o.key }),
        size: Some(o.size as i64),
        e_tag: Some(etag(&o.etag)),
        last_modified: Some(timestamp(o.last_modified)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.data", "a1b"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "192.168.0.1",
            "a_b",
            &"x".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn virtual_hosts_name_buckets_only_under_localhost() {
        let h = LocalHost;
        assert_eq!(
            h.parse_host_header("data.localhost:4599").unwrap().bucket(),
            Some("data")
        );
        assert_eq!(
            h.parse_host_header("data.s3.localhost").unwrap().bucket(),
            Some("data")
        );
        assert_eq!(
            h.parse_host_header("127.0.0.1:4599").unwrap().bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("host.docker.internal:4599")
                .unwrap()
                .bucket(),
            None
        );
        assert_eq!(
            h.parse_host_header("localhost:4599").unwrap().bucket(),
            None
        );
    }

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/c+d%"), "a%20b/c%2Bd%25");
    }
}
