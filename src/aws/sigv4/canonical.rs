//! The request's side of a SigV4 signature: the payload hash it covers and the canonical
//! request that is hashed into the string to sign.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use super::{Payload, SignatureError, SignedRequest, query_value, uri_encode};

/// The payload hash the signature covers.
pub(super) fn payload_hash(
    payload: Payload<'_>,
    presigned: bool,
    pairs: &[(String, String)],
    headers: &HeaderMap,
) -> Result<String, SignatureError> {
    Ok(match payload {
        // Services other than S3 sign the body itself: the hash is computed here, whatever a
        // header claims, so a changed body cannot ride on a replayed signature.
        Payload::Body(b) => hex::encode(Sha256::digest(b)),
        Payload::HeaderOnly if presigned => query_value(pairs, "X-Amz-Content-Sha256")
            .unwrap_or("UNSIGNED-PAYLOAD")
            .to_string(),
        Payload::HeaderOnly => headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                SignatureError::Invalid(
                    "Missing required header for this request: x-amz-content-sha256".into(),
                )
            })?
            .to_string(),
    })
}

/// SigV4's canonical request: method, URI, sorted query (less the signature), the signed
/// headers with their values' whitespace folded, the signed header names, the payload hash.
pub(super) fn canonical_request(
    req: &SignedRequest<'_>,
    pairs: &[(String, String)],
    signed_headers: &str,
    s3: bool,
    payload_hash: &str,
) -> String {
    let canonical_uri = if s3 {
        req.path.to_string()
    } else {
        uri_encode(req.path, false)
    };
    let mut query_pairs: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    query_pairs.sort();
    let canonical_query = query_pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';').filter(|n| !n.is_empty()) {
        let values: Vec<String> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let method = req.method;
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    )
}
