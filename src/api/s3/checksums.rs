//! Request checksums: which algorithms a PUT or part asks for (named, sent in headers, or announced
//! as aws-chunked trailers), computing them while the body streams to disk, and checking them
//! (and Content-MD5) before anything is committed.

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::*;

/// The checksum algorithms a request asks the server to compute: the one it names and the ones
/// whose values it sends (in headers now or in trailers later).
pub(super) fn requested_algorithms(
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
pub(super) fn verify_checksums(
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

pub(super) fn content_md5_ok(content_md5: Option<&str>, etag_hex: &str) -> S3Result<()> {
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

/// The five `checksum_*` fields of a request shape (PutObject, UploadPart, CompleteMultipartUpload
/// and its parts), by algorithm, moved out of `$x`.
macro_rules! sent_checksums {
    ($x:expr) => {
        [
            ("CRC32", $x.checksum_crc32),
            ("CRC32C", $x.checksum_crc32c),
            ("SHA1", $x.checksum_sha1),
            ("SHA256", $x.checksum_sha256),
            ("CRC64NVME", $x.checksum_crc64nvme),
        ]
    };
}
pub(super) use sent_checksums;

pub(super) fn checksum_fields(
    c: &std::collections::BTreeMap<String, String>,
) -> [Option<String>; 5] {
    ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"].map(|a| c.get(a).cloned())
}

impl S3Api {
    /// Streams a PutObject/UploadPart body into a staged blob, computing the checksums the
    /// request names, and checks them (and Content-MD5) against the values sent in headers or
    /// trailers; a mismatch discards the blob. `part` names the upload, part number and length
    /// of an UploadPart body.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn stage_checked(
        &self,
        body: StreamingBlob,
        part: Option<(&crate::store::objects::Upload, i64, Option<u64>)>,
        headers: &http::HeaderMap,
        trailers: Option<crate::api::s3::anonymous::Trailers>,
        verdict: Option<crate::api::s3::payload::PayloadVerdict>,
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
        let staged = match part {
            Some((upload, number, len)) => {
                self.objects
                    .stage_part(upload, number, len, body, &algs)
                    .await
            }
            None => self.objects.stage(body, &algs).await,
        };
        // A body refused for its signature ends in an error; the refusal says why.
        let staged = match (staged, verdict.and_then(|v| v.refusal())) {
            (Ok(staged), Some(why)) => {
                self.objects.discard(staged).await;
                return Err(why.s3_error());
            }
            (Err(_), Some(why)) => return Err(why.s3_error()),
            (staged, None) => staged.map_err(map_err)?,
        };
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
