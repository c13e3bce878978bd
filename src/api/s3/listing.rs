//! Listings: ListObjects, ListObjectsV2 and ListObjectVersions over the object service's ordered
//! key scan, with S3's delimiter, marker, continuation-token and `encoding-type=url` rules.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::*;
use crate::service::objects::ListRequest;

/// S3's percent-encoding for `encoding-type=url` listings.
pub(super) fn url_encode(s: &str) -> String {
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

pub(super) fn encode_token(key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

pub(super) fn decode_token(token: &str) -> S3Result<String> {
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

/// A listing entry; `with_owner`: ListObjects (v1) always names the owner, V2 when FetchOwner.
pub(super) fn object_entry(
    o: crate::store::objects::ObjectRow,
    url: bool,
    with_owner: bool,
) -> Object {
    Object {
        owner: with_owner.then(owner),
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

impl S3Api {
    pub(super) async fn list_objects(
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
            // ListObjects (v1) echoes Prefix as sent, even with encoding-type=url (botocore decodes only
            // Delimiter, Marker, NextMarker, keys and common prefixes there).
            prefix: Some(prefix),
            delimiter: input.delimiter.filter(|d| !d.is_empty()).map(enc),
            marker: Some(input.marker.map(enc).unwrap_or_default()),
            next_marker: next_marker.map(enc),
            max_keys: Some(max_keys as i32),
            is_truncated: Some(listing.is_truncated),
            contents: Some(
                listing
                    .objects
                    .into_iter()
                    .map(|o| object_entry(o, url, true))
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

    pub(super) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let fetch_owner = input.fetch_owner.unwrap_or(false);
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
                    .map(|o| object_entry(o, url, fetch_owner))
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
    pub(super) async fn list_object_versions(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes() {
        assert_eq!(url_encode("a b/c+d%"), "a%20b/c%2Bd%25");
    }
}
