//! SigV4 credential scope, read from the `Authorization` header or a presigned URL's
//! `X-Amz-Credential`. The gateway uses the scope's service name to route requests whose
//! protocol alone is ambiguous (STS and IAM both speak the query protocol).

use axum::http::HeaderMap;

mod canonical;
pub mod chunks;
mod v2;

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
    /// `X-Amz-Date` lies outside the clock-skew window around the server's time.
    Skewed(Skew),
    /// A presigned URL whose `X-Amz-Date` lies in the future beyond the skew window.
    NotYetValid,
}

/// A request time too far from the server's, with what AWS's messages name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skew {
    pub amz_date: String,
    pub now_epoch: i64,
    pub window_secs: i64,
}

/// S3 allows 15 minutes between the request's time and its own; other services 5.
pub const S3_SKEW_SECS: i64 = 15 * 60;
pub const SKEW_SECS: i64 = 5 * 60;

/// What a verified signature binds, beyond the request line and headers: the payload it
/// claims and, for aws-chunked bodies, what each chunk's signature is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The payload hash the signature covers: a hex SHA-256, `UNSIGNED-PAYLOAD` or a
    /// `STREAMING-…` name.
    pub payload_hash: String,
    /// The signature itself: the seed of an aws-chunked body's chain of chunk signatures.
    pub signature: String,
    pub amz_date: String,
    /// `DATE/REGION/SERVICE/aws4_request`.
    pub scope: String,
    /// The SigV4 signing key derived from the secret and the scope (empty for SigV2).
    pub signing_key: Vec<u8>,
}

/// What the signature covers that the request line and headers do not: the payload hash.
pub enum Payload<'a> {
    /// The body, when the caller has it (control-plane requests).
    Body(&'a [u8]),
    /// Only the `x-amz-content-sha256` header may be used (S3 bodies stream).
    HeaderOnly,
}

/// The parts of a request a signature covers, apart from the payload.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Verifies a SigV4-signed request (header or presigned query) against `secret_of(access key)`.
/// `s3` selects S3's canonical URI rules (the path as sent; other services encode it again).
pub fn verify(
    req: &SignedRequest<'_>,
    payload: Payload<'_>,
    s3: bool,
    now_epoch: i64,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<Verified, SignatureError> {
    let pairs: Vec<(String, String)> = req
        .query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let presigned = query_value(&pairs, "X-Amz-Signature").is_some();
    let auth = if let Some(header) = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        from_header(header, req.headers)?
    } else if presigned {
        from_presigned(&pairs, now_epoch)?
    } else if s3
        && query_value(&pairs, "Signature").is_some()
        && query_value(&pairs, "AWSAccessKeyId").is_some()
    {
        return v2::verify_v2_presigned(
            req.method,
            req.path,
            &pairs,
            req.headers,
            now_epoch,
            &secret_of,
        );
    } else {
        return Err(SignatureError::Missing);
    };
    check_host_and_skew(&auth, presigned, s3, now_epoch)?;
    let (access_key, scope) = split_credential(&auth.credential)?;
    let secret =
        secret_of(access_key).ok_or_else(|| SignatureError::UnknownKey(access_key.into()))?;
    let payload_hash = canonical::payload_hash(payload, presigned, &pairs, req.headers)?;
    let canonical =
        canonical::canonical_request(req, &pairs, &auth.signed_headers, s3, &payload_hash);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        auth.amz_date,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SignatureError::Mismatch(string_to_sign));
    }
    // A presigned URL may still name its payload in a header (s3s and MinIO check it too).
    let payload_hash = match (presigned, req.headers.get("x-amz-content-sha256")) {
        (true, Some(h)) if payload_hash == "UNSIGNED-PAYLOAD" => {
            h.to_str().unwrap_or_default().to_string()
        }
        _ => payload_hash,
    };
    Ok(Verified {
        payload_hash,
        signature: auth.signature,
        amz_date: auth.amz_date,
        scope: scope.to_string(),
        signing_key: key,
    })
}

/// What a SigV4 authorization names, from the header or from a presigned URL's query.
struct Authorization {
    credential: String,
    signed_headers: String,
    signature: String,
    amz_date: String,
}

const V4_ONLY: &str =
    "sagebox --auth strict accepts AWS Signature Version 4 (AWS4-HMAC-SHA256) only.";

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` and X-Amz-Date.
fn from_header(auth: &str, headers: &HeaderMap) -> Result<Authorization, SignatureError> {
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(SignatureError::Invalid(V4_ONLY.into()));
    };
    let part = |name: &str| {
        rest.split(',')
            .find_map(|p| p.trim().strip_prefix(name))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| SignatureError::Invalid("The X-Amz-Date header is missing.".into()))?;
    Ok(Authorization {
        credential: part("Credential="),
        signed_headers: part("SignedHeaders="),
        signature: part("Signature="),
        amz_date,
    })
}

/// `X-Amz-Algorithm`, `X-Amz-Credential`, … in the query; the URL must be within its
/// `X-Amz-Expires` (and not dated further ahead than the skew window).
fn from_presigned(
    pairs: &[(String, String)],
    now_epoch: i64,
) -> Result<Authorization, SignatureError> {
    let q = |name: &str| query_value(pairs, name);
    if q("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
        return Err(SignatureError::Invalid(V4_ONLY.into()));
    }
    let amz_date = q("X-Amz-Date").unwrap_or_default().to_string();
    let expires: i64 = q("X-Amz-Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
    match parse_amz_date(&amz_date) {
        Some(t) if t - now_epoch > S3_SKEW_SECS => return Err(SignatureError::NotYetValid),
        Some(t) if now_epoch <= t + expires => {}
        Some(_) => return Err(SignatureError::Expired),
        None => {
            return Err(SignatureError::Invalid(format!(
                "X-Amz-Date {amz_date} is not a date like 20260101T000000Z."
            )));
        }
    }
    Ok(Authorization {
        credential: q("X-Amz-Credential").unwrap_or_default().to_string(),
        signed_headers: q("X-Amz-SignedHeaders").unwrap_or_default().to_string(),
        signature: q("X-Amz-Signature").unwrap_or_default().to_string(),
        amz_date,
    })
}

/// The host must be signed; a header signature is good for a few minutes around its
/// X-Amz-Date (a presigned URL for its X-Amz-Expires, checked when read), so a captured
/// request cannot be replayed later.
fn check_host_and_skew(
    auth: &Authorization,
    presigned: bool,
    s3: bool,
    now_epoch: i64,
) -> Result<(), SignatureError> {
    if !auth.signed_headers.split(';').any(|h| h == "host") {
        return Err(SignatureError::Invalid(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if presigned {
        return Ok(());
    }
    let amz_date = &auth.amz_date;
    let t = parse_amz_date(amz_date).ok_or_else(|| {
        SignatureError::Invalid(format!(
            "X-Amz-Date {amz_date} is not a date like 20260101T000000Z."
        ))
    })?;
    let window_secs = if s3 { S3_SKEW_SECS } else { SKEW_SECS };
    if (now_epoch - t).abs() > window_secs {
        return Err(SignatureError::Skewed(Skew {
            amz_date: amz_date.clone(),
            now_epoch,
            window_secs,
        }));
    }
    Ok(())
}

/// `KEY/DATE/REGION/SERVICE/aws4_request` → (`KEY`, `DATE/REGION/SERVICE/aws4_request`).
fn split_credential(credential: &str) -> Result<(&str, &str), SignatureError> {
    credential.split_once('/').ok_or_else(|| {
        SignatureError::Invalid(format!(
            "The credential {credential} is not KEY/DATE/REGION/SERVICE/aws4_request."
        ))
    })
}

use hmac::Mac;
use sha2::{Digest, Sha256};

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
        if signed - now_epoch > S3_SKEW_SECS {
            return Err(SignatureError::NotYetValid);
        }
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
pub fn parse_amz_date(s: &str) -> Option<i64> {
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
        let example_time = parse_amz_date("20150830T123600Z").unwrap();
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
                example_time,
                secret
            )
            .map(|v| v.payload_hash),
            Ok(hex::encode(Sha256::digest(b"")))
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
                example_time,
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
                example_time,
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
                example_time,
                secret
            ),
            Err(SignatureError::Missing)
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
