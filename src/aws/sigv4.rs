//! SigV4 credential scope, read from the `Authorization` header or a presigned URL's
//! `X-Amz-Credential`. The gateway uses the scope's service name to route requests whose
//! protocol alone is ambiguous (STS and IAM both speak the query protocol).

use axum::http::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// `AKID/20260101/us-east-1/sagemaker/aws4_request` → scope.
fn parse_credential(cred: &str) -> Option<CredentialScope> {
    let mut it = cred.split('/');
    let access_key = it.next()?.to_string();
    let _date = it.next()?;
    let region = it.next()?.to_string();
    let service = it.next()?.to_string();
    Some(CredentialScope {
        access_key,
        region,
        service,
    })
}

pub fn credential_scope(headers: &HeaderMap, query: Option<&str>) -> Option<CredentialScope> {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let rest = auth.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        return rest
            .split(',')
            .find_map(|p| p.trim().strip_prefix("Credential="))
            .and_then(parse_credential);
    }
    let query = query?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "X-Amz-Credential")
        .and_then(|(_, v)| parse_credential(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scope_from_header_and_presigned_query() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/sts/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        let s = credential_scope(&h, None).unwrap();
        assert_eq!(
            (s.access_key.as_str(), s.region.as_str(), s.service.as_str()),
            ("AKID", "eu-west-1", "sts")
        );
        let q = "X-Amz-Credential=K%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=x";
        assert_eq!(
            credential_scope(&HeaderMap::new(), Some(q))
                .unwrap()
                .service,
            "s3"
        );
    }
}

/// Why a request's signature was refused (`--auth strict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Authorization` header and no presigned query.
    Missing,
    /// The access key is not one sagebox was given.
    UnknownKey(String),
    /// The signature does not match; carries the string to sign sagebox computed.
    Mismatch(String),
    /// A presigned URL past its expiry.
    Expired,
    /// Malformed or unsupported authentication (e.g. SigV2).
    Invalid(String),
    /// Well-formed but refused (403 AccessDenied), with S3's reason.
    Forbidden(String),
}

/// What the signature covers that the request line and headers do not: the payload hash.
pub enum Payload<'a> {
    /// The body, when the caller has it (control-plane requests).
    Body(&'a [u8]),
    /// Only the `x-amz-content-sha256` header may be used (S3 bodies stream).
    HeaderOnly,
}

/// Verifies a SigV4-signed request (header or presigned query) against `secret_of(access key)`.
/// `s3` selects S3's canonical URI rules (the path as sent; other services encode it again).
/// The parts of a request a signature covers, apart from the payload.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

pub fn verify(
    req: &SignedRequest<'_>,
    payload: Payload<'_>,
    s3: bool,
    now_epoch: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<(), SignatureError> {
    let SignedRequest {
        method,
        path,
        query,
        headers,
    } = *req;
    let pairs: Vec<(String, String)> = query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let q = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let presigned = q("X-Amz-Signature").is_some();
    let (credential, signed_headers, signature, amz_date) = if let Some(auth) =
        headers.get("authorization").and_then(|v| v.to_str().ok())
    {
        let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256") else {
            return Err(SignatureError::Invalid(
                "sagebox --auth strict accepts AWS Signature Version 4 (AWS4-HMAC-SHA256) only."
                    .into(),
            ));
        };
        let part = |name: &str| {
            rest.split(',')
                .find_map(|p| p.trim().strip_prefix(name))
                .map(str::to_string)
        };
        let date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| SignatureError::Invalid("The X-Amz-Date header is missing.".into()))?;
        (
            part("Credential=").unwrap_or_default(),
            part("SignedHeaders=").unwrap_or_default(),
            part("Signature=").unwrap_or_default(),
            date,
        )
    } else if presigned {
        if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(SignatureError::Invalid(
                "sagebox --auth strict accepts AWS Signature Version 4 (AWS4-HMAC-SHA256) only."
                    .into(),
            ));
        }
        let date = q("X-Amz-Date").unwrap_or_default().to_string();
        let expires: i64 = q("X-Amz-Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
        match parse_amz_date(&date) {
            Some(t) if now_epoch <= t + expires => {}
            Some(_) => return Err(SignatureError::Expired),
            None => {
                return Err(SignatureError::Invalid(format!(
                    "X-Amz-Date {date} is not a date like 20260101T000000Z."
                )));
            }
        }
        (
            q("X-Amz-Credential").unwrap_or_default().to_string(),
            q("X-Amz-SignedHeaders").unwrap_or_default().to_string(),
            q("X-Amz-Signature").unwrap_or_default().to_string(),
            date,
        )
    } else if s3 && q("Signature").is_some() && q("AWSAccessKeyId").is_some() {
        return verify_v2_presigned(method, path, &pairs, headers, now_epoch, &secret_of);
    } else {
        return Err(SignatureError::Missing);
    };

    let scope_parts: Vec<&str> = credential.splitn(2, '/').collect();
    let (access_key, scope) = match scope_parts.as_slice() {
        [k, s] => (*k, *s),
        _ => {
            return Err(SignatureError::Invalid(format!(
                "The credential {credential} is not KEY/DATE/REGION/SERVICE/aws4_request."
            )));
        }
    };
    let secret =
        secret_of(access_key).ok_or_else(|| SignatureError::UnknownKey(access_key.into()))?;

    // Canonical request.
    let canonical_uri = if s3 {
        path.to_string()
    } else {
        uri_encode(path, false)
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
        let values: Vec<String> = headers
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
    let payload_hash = if presigned {
        q("X-Amz-Content-Sha256")
            .unwrap_or("UNSIGNED-PAYLOAD")
            .to_string()
    } else if let Some(h) = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        h.to_string()
    } else {
        match payload {
            Payload::Body(b) => hex::encode(Sha256::digest(b)),
            Payload::HeaderOnly => {
                return Err(SignatureError::Invalid(
                    "Missing required header for this request: x-amz-content-sha256".into(),
                ));
            }
        }
    };
    let canonical_request = format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch(string_to_sign))
    }
}

use hmac::Mac;
use sha2::{Digest, Sha256};

/// S3's query-string authentication of Signature Version 2 (what boto3 presigns with unless
/// told to use SigV4): `AWSAccessKeyId`, `Expires`, `Signature` = base64(HMAC-SHA1) over the
/// verb, Content-MD5, Content-Type, Expires, the `x-amz-*` headers and the resource.
fn verify_v2_presigned(
    method: &str,
    path: &str,
    pairs: &[(String, String)],
    headers: &HeaderMap,
    now_epoch: i64,
    secret_of: &impl Fn(&str) -> Option<String>,
) -> Result<(), SignatureError> {
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
        Ok(())
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

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SigV4's URI encoding: unreserved characters as they are, everything else `%XX`; `/` kept
/// unless `slash` (query components encode it).
fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A presigned URL's own validity, which sagebox checks in every auth mode (signatures only
/// under `--auth strict`): SigV4's `X-Amz-Date` + `X-Amz-Expires` (at most seven days, and a
/// URL valid for 0 seconds is expired at once), or SigV2's `Expires` (epoch seconds).
pub fn presigned_validity(query: &str, now_epoch: i64) -> Result<(), SignatureError> {
    // Most S3 queries are not presigned; only those pay for parsing.
    if !query.contains("Expires=") {
        return Ok(());
    }
    let mut date = None;
    let mut expires = None;
    let mut v2_expires = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "X-Amz-Date" => date = Some(v.into_owned()),
            "X-Amz-Expires" => expires = Some(v.into_owned()),
            "Expires" => v2_expires = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(expires) = expires {
        let seconds: i64 = expires.parse().map_err(|_| {
            SignatureError::Invalid(format!("X-Amz-Expires {expires} is not a number."))
        })?;
        if !(0..=604_800).contains(&seconds) {
            return Err(SignatureError::Forbidden(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800".into(),
            ));
        }
        let date = date.unwrap_or_default();
        let signed = parse_amz_date(&date).ok_or_else(|| {
            SignatureError::Invalid(format!(
                "X-Amz-Date {date} is not a date like 20260101T000000Z."
            ))
        })?;
        if seconds == 0 || now_epoch > signed + seconds {
            return Err(SignatureError::Expired);
        }
    } else if let Some(t) = v2_expires.and_then(|e| e.parse::<i64>().ok())
        && now_epoch > t
    {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

/// `20260101T120000Z` → epoch seconds.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let month = time::Month::try_from(n(4..6)? as u8).ok()?;
    let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8).ok()?;
    let t = time::Time::from_hms(n(9..11)? as u8, n(11..13)? as u8, n(13..15)? as u8).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod verify_tests {
    use super::*;

    /// The example from AWS's SigV4 documentation (IAM ListUsers, GET with a query).
    #[test]
    fn accepts_the_documented_example_and_refuses_a_changed_request() {
        let mut h = HeaderMap::new();
        h.insert("host", "iam.amazonaws.com".parse().unwrap());
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        h.insert("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7".parse().unwrap());
        let secret = |k: &str| {
            (k == "AKIDEXAMPLE").then(|| "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string())
        };
        let q = Some("Action=ListUsers&Version=2010-05-08");
        assert_eq!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/",
                    query: q,
                    headers: &h
                },
                Payload::Body(b""),
                false,
                0,
                secret
            ),
            Ok(())
        );
        let other = Some("Action=ListRoles&Version=2010-05-08");
        assert!(matches!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/",
                    query: other,
                    headers: &h
                },
                Payload::Body(b""),
                false,
                0,
                secret
            ),
            Err(SignatureError::Mismatch(_))
        ));
        assert_eq!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/",
                    query: q,
                    headers: &h
                },
                Payload::Body(b""),
                false,
                0,
                |_| None
            ),
            Err(SignatureError::UnknownKey("AKIDEXAMPLE".into()))
        );
        assert_eq!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/",
                    query: q,
                    headers: &HeaderMap::new()
                },
                Payload::Body(b""),
                false,
                0,
                secret
            ),
            Err(SignatureError::Missing)
        );
    }

    /// RFC 2202's first HMAC-SHA1 test case.
    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
    }

    #[test]
    fn presigned_urls_expire() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=K%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        let secret = |_: &str| Some("s".to_string());
        let t0 = parse_amz_date("20260101T000000Z").unwrap();
        let h = HeaderMap::new();
        assert_eq!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/b/k",
                    query: Some(q),
                    headers: &h
                },
                Payload::HeaderOnly,
                true,
                t0 + 61,
                secret
            ),
            Err(SignatureError::Expired)
        );
        assert!(matches!(
            verify(
                &SignedRequest {
                    method: "GET",
                    path: "/b/k",
                    query: Some(q),
                    headers: &h
                },
                Payload::HeaderOnly,
                true,
                t0 + 1,
                secret
            ),
            Err(SignatureError::Mismatch(_))
        ));
    }
}
