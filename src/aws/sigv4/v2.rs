//! S3's Signature Version 2 presigned URLs (what older SDKs presign with unless told to use
//! SigV4), checked under `--auth strict`.

use axum::http::HeaderMap;

use super::{SignatureError, Verified, constant_time_eq};

/// S3's query-string authentication of Signature Version 2 (what boto3 presigns with unless
/// told to use SigV4): `AWSAccessKeyId`, `Expires`, `Signature` = base64(HMAC-SHA1) over the
/// verb, Content-MD5, Content-Type, Expires, the `x-amz-*` headers and the resource.
pub(super) fn verify_v2_presigned(
    method: &str,
    path: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    now_epoch: i64,
    secret_of: &impl Fn(&str) -> Option<String>,
) -> Result<Verified, SignatureError> {
    use base64::Engine;
    const SUB_RESOURCES: &[&str] = &[
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    ];
    let q = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let access_key = q("AWSAccessKeyId").unwrap_or_default();
    let expires = q("Expires").unwrap_or_default();
    let signature = q("Signature").unwrap_or_default();
    match expires.parse::<i64>() {
        Ok(t) if now_epoch <= t => {}
        Ok(_) => return Err(SignatureError::Expired),
        Err(_) => {
            return Err(SignatureError::Invalid(format!(
                "Expires {expires} is not a time."
            )));
        }
    }
    let secret =
        secret_of(access_key).ok_or_else(|| SignatureError::UnknownKey(access_key.into()))?;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut amz: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-"))
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).trim().to_string(),
            )
        })
        .collect();
    amz.sort();
    // Virtual-host requests name their bucket in the Host header.
    let host = header("host");
    let host = host.split(':').next().unwrap_or("");
    let bucket = [".s3.localhost", ".localhost"]
        .iter()
        .find_map(|base| host.strip_suffix(base))
        .filter(|b| !b.is_empty());
    let mut resource = match bucket {
        Some(b) => format!("/{b}{path}"),
        None => path.to_string(),
    };
    let mut subs: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(k);
        if !v.is_empty() {
            resource.push('=');
            resource.push_str(v);
        }
    }
    let mut string_to_sign = format!(
        "{method}\n{}\n{}\n{expires}\n",
        header("content-md5"),
        header("content-type")
    );
    for (k, v) in &amz {
        string_to_sign.push_str(&format!("{k}:{v}\n"));
    }
    string_to_sign.push_str(&resource);
    let expected = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        // SigV2 signs no payload.
        Ok(Verified {
            payload_hash: "UNSIGNED-PAYLOAD".into(),
            signature: signature.to_string(),
            amz_date: String::new(),
            scope: String::new(),
            signing_key: Vec::new(),
        })
    } else {
        Err(SignatureError::Mismatch(string_to_sign))
    }
}

/// HMAC-SHA1 (RFC 2104), for SigV2 only.
fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&sha1::Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha1::Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = sha1::Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202's first HMAC-SHA1 test case.
    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
    }
}
