//! S3 (REST-XML) through the s3s crate: s3s parses requests, checks signatures when configured
//! and renders responses and errors; this module turns each operation into calls on the object
//! service (`service::objects`) and maps its errors to S3's codes.
//!
//! One file per family of operations, each an `impl S3Api` block with one method per operation
//! named as s3s (and botocore) name it: `buckets`, `objects`, `listing`, `multipart`; request
//! checksums in `checksums`; `anonymous` prepares requests before s3s sees them. The `S3` trait
//! impl below is only the table that routes s3s's calls to those methods.

pub mod anonymous;
pub mod attributes;
mod buckets;
pub(crate) use buckets::valid_bucket_name;
mod checksums;
mod listing;
mod multipart;
mod objects;
pub mod payload;

use std::time::{Duration, UNIX_EPOCH};

use s3s::dto::*;
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::service::objects::{ObjectError, Objects};
use crate::store::objects::ObjectMeta;

/// The S3 service the gateway falls back to.
pub fn service(objects: Objects) -> S3Service {
    let mut b = S3ServiceBuilder::new(S3Api { objects });
    // No S3Auth: every access key is accepted and signatures are not checked (sagebox's
    // default mode); aws-chunked bodies are still decoded.
    b.set_host(LocalHost);
    b.build()
}

/// What the gateway adds to every s3s answer: the `x-amz-request-id` header S3 always sends,
/// the same id as an error body's `RequestId`, and (for GetObjectAttributes) the unquoted ETag.
pub async fn finish(
    resp: axum::response::Response,
    attributes: bool,
    request_id: &str,
) -> axum::response::Response {
    let mut resp = if attributes {
        attributes::unquote_etag(resp).await
    } else {
        resp
    };
    crate::aws::error::insert_request_id(resp.headers_mut(), "x-amz-request-id", request_id);
    let is_xml = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|c| c.as_bytes().ends_with(b"xml"));
    if !resp.status().is_client_error() && !resp.status().is_server_error() || !is_xml {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 10).await else {
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    let text = String::from_utf8_lossy(&bytes);
    let body = match text.rfind("</Error>") {
        Some(end) if !text.contains("<RequestId>") => format!(
            "{}<RequestId>{}</RequestId>{}",
            &text[..end],
            crate::aws::xml::escape(request_id),
            &text[end..]
        ),
        _ => text.into_owned(),
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
}

/// CORS preflight (`OPTIONS`): no bucket has a CORS configuration (sagebox does not keep one),
/// so S3 refuses every preflight, and one without an `Origin` is malformed.
pub fn preflight(
    method: &http::Method,
    headers: &http::HeaderMap,
) -> Option<crate::aws::error::AwsError> {
    use crate::aws::error::AwsError;
    if method != http::Method::OPTIONS {
        return None;
    }
    Some(if headers.contains_key(http::header::ORIGIN) {
        AwsError::new(
            http::StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed: the bucket has no CORS configuration.",
        )
    } else {
        AwsError::bad_request(
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        )
    })
}

/// DeleteObjects must carry `Content-MD5` or an `x-amz-checksum-*` header, as S3 requires: a
/// page on another site cannot set either on a form post, so it cannot delete objects.
pub fn delete_objects_digest(
    method: &http::Method,
    query: Option<&str>,
    headers: &http::HeaderMap,
) -> Option<crate::aws::error::AwsError> {
    let delete = *method == http::Method::POST
        && query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "delete"));
    let digest = headers.contains_key("content-md5")
        || headers
            .keys()
            .any(|k| k.as_str().starts_with("x-amz-checksum-"))
        || headers.get("x-amz-trailer").is_some_and(|t| {
            t.to_str()
                .is_ok_and(|t| t.trim().starts_with("x-amz-checksum-"))
        });
    (delete && !digest).then(|| {
        crate::aws::error::AwsError::bad_request(
            "InvalidRequest",
            "Missing required header for this request: Content-MD5",
        )
    })
}

/// Virtual-host addressing for `<bucket>.localhost[:port]`, `<bucket>.s3.localhost[:port]` and
/// AWS's own S3 names (`<bucket>.s3.amazonaws.com`, reached through the AWS proxy); every other host (IPs, `host.docker.internal`, network aliases) is path style.
struct LocalHost;

impl S3Host for LocalHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match virtual_bucket(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

/// The bucket a virtual-host-style Host header names (see `LocalHost`); None for path style.
/// The gateway asks too: a virtual-hosted key may look like another api's path.
pub fn virtual_bucket(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    for base in [".s3.localhost", ".localhost"] {
        if let Some(bucket) = name.strip_suffix(base).filter(|b| !b.is_empty()) {
            return Some(bucket);
        }
    }
    // `<bucket>.s3.<region>.amazonaws.com`, as clients address it through `--aws-proxy`.
    crate::awsproxy::hosts::s3_virtual_bucket(name)
}

struct S3Api {
    objects: Objects,
}

pub(super) fn map_err(e: ObjectError) -> S3Error {
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
        ObjectError::InvalidRequest(_) => S3ErrorCode::InvalidRequest,
        ObjectError::BadDigest(_) => S3ErrorCode::BadDigest,
        ObjectError::Internal(_) => S3ErrorCode::InternalError,
    };
    S3Error::with_message(code, e.to_string())
}

/// The bucket and key a CopyObject or UploadPartCopy reads (access points are not offered).
pub(super) fn copy_source(source: &CopySource) -> S3Result<(String, String)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3s::s3_error!(
            NotImplemented,
            "Only bucket copy sources are supported"
        )),
    }
}

/// A PutObjectTagging or PutBucketTagging body as (key, value) pairs.
pub(super) fn tags_of(tagging: Tagging) -> Vec<(String, String)> {
    tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect()
}

/// Stored tags as a TagSet.
pub(super) fn tag_set(tags: Vec<(String, String)>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect()
}

/// The one owner sagebox reports (it has one user).
pub(super) fn owner() -> Owner {
    Owner {
        display_name: Some("sagebox".into()),
        id: Some("sagebox".into()),
    }
}

pub(super) fn timestamp(epoch: f64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_secs_f64(epoch.max(0.0)))
}

pub(super) fn epoch_of(t: &Timestamp) -> f64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp_nanos() as f64 / 1e9
}

pub(super) fn etag(s: &str) -> ETag {
    ETag::Strong(s.to_string())
}

/// The metadata a PutObject, CopyObject (REPLACE) or CreateMultipartUpload stores beside the
/// bytes, moved out of the request's fields of the same names (the three inputs share them).
macro_rules! object_meta {
    ($input:ident) => {
        $crate::api::s3::ObjectHeaders {
            metadata: $input.metadata,
            content_type: $input.content_type,
            content_encoding: $input.content_encoding,
            content_disposition: $input.content_disposition,
            content_language: $input.content_language,
            cache_control: $input.cache_control,
            expires: $input.expires,
            tagging: $input.tagging,
        }
        .into_meta()
    };
}
pub(super) use object_meta;

/// The standard and user headers an object keeps.
pub(super) struct ObjectHeaders {
    pub metadata: Option<Metadata>,
    pub content_type: Option<ContentType>,
    pub content_encoding: Option<ContentEncoding>,
    pub content_disposition: Option<ContentDisposition>,
    pub content_language: Option<ContentLanguage>,
    pub cache_control: Option<CacheControl>,
    pub expires: Option<Expires>,
    pub tagging: Option<TaggingHeader>,
}

impl ObjectHeaders {
    pub(super) fn into_meta(self) -> S3Result<ObjectMeta> {
        let tags = match &self.tagging {
            Some(t) => parse_tagging_header(t)?,
            None => Vec::new(),
        };
        let mut tags = tags;
        check_tags(&tags, 10)?;
        tags.sort();
        // `aws-chunked` describes the request's framing, not the object: S3 drops it.
        let content_encoding = self.content_encoding.and_then(|e| {
            let kept: Vec<&str> = e
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            (!kept.is_empty()).then(|| kept.join(", "))
        });
        let expires = self.expires.and_then(|t| {
            let mut buf = Vec::new();
            t.format(s3s::dto::TimestampFormat::HttpDate, &mut buf)
                .ok()?;
            String::from_utf8(buf).ok()
        });
        Ok(ObjectMeta {
            content_type: self.content_type.map(|c| c.to_string()),
            content_encoding,
            content_disposition: self.content_disposition,
            content_language: self.content_language,
            cache_control: self.cache_control,
            expires,
            user: self
                .metadata
                .map(|m| m.into_iter().collect())
                .unwrap_or_default(),
            tags,
            ..Default::default()
        })
    }
}

/// `x-amz-tagging`: tags as a URL query string (`k1=v1&k2=v2`).
pub(super) fn parse_tagging_header(header: &str) -> S3Result<Vec<(String, String)>> {
    Ok(form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// S3's tag rules: at most `max` tags, keys of 1–128 and values of up to 256 characters,
/// each key once.
pub(super) fn check_tags(tags: &[(String, String)], max: usize) -> S3Result<()> {
    if tags.len() > max {
        return Err(s3s::s3_error!(
            InvalidTag,
            "Object tags cannot be greater than {max}"
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(s3s::s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > 256 {
            return Err(s3s::s3_error!(
                InvalidTag,
                "The TagValue you have provided is too long"
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(s3s::s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Reads and drops (up to a bound) the body of a request refused before its body was needed, so
/// the client finishes sending and reads the error instead of seeing the connection closed.
pub(super) async fn drain(body: &mut StreamingBlob) {
    use futures_util::StreamExt;
    let mut left: usize = 64 * 1024 * 1024;
    while let Some(Ok(chunk)) = body.next().await {
        left = left.saturating_sub(chunk.len());
        if left == 0 {
            break;
        }
    }
}

/// Routes each s3s operation to the `S3Api` method of the same name (an inherent method, defined
/// in this module's children, which takes precedence over the trait's).
macro_rules! operations {
    ($($op:ident: $input:ident => $output:ident,)*) => {
        #[async_trait::async_trait]
        impl S3 for S3Api {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    S3Api::$op(self, req).await
                }
            )*
        }
    };
}

operations! {
    create_bucket: CreateBucketInput => CreateBucketOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    get_bucket_versioning: GetBucketVersioningInput => GetBucketVersioningOutput,
    put_object: PutObjectInput => PutObjectOutput,
    get_object: GetObjectInput => GetObjectOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    list_object_versions: ListObjectVersionsInput => ListObjectVersionsOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
    list_parts: ListPartsInput => ListPartsOutput,
    list_multipart_uploads: ListMultipartUploadsInput => ListMultipartUploadsOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
    get_bucket_tagging: GetBucketTaggingInput => GetBucketTaggingOutput,
    put_bucket_tagging: PutBucketTaggingInput => PutBucketTaggingOutput,
    delete_bucket_tagging: DeleteBucketTaggingInput => DeleteBucketTaggingOutput,
    get_object_tagging: GetObjectTaggingInput => GetObjectTaggingOutput,
    put_object_tagging: PutObjectTaggingInput => PutObjectTaggingOutput,
    delete_object_tagging: DeleteObjectTaggingInput => DeleteObjectTaggingOutput,
    get_object_attributes: GetObjectAttributesInput => GetObjectAttributesOutput,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            h.parse_host_header("data.s3.us-east-1.amazonaws.com")
                .unwrap()
                .bucket(),
            Some("data")
        );
        assert_eq!(
            h.parse_host_header("s3.us-east-1.amazonaws.com")
                .unwrap()
                .bucket(),
            None
        );
    }
}
