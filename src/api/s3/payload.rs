//! Binding an S3 body to its signature (`--auth strict`). A body too large to read before the
//! request starts is checked as it streams: its SHA-256 against the signed
//! `x-amz-content-sha256`, or each aws-chunked chunk against its chained signature (see
//! `anonymous`). A body that fails ends in an error, so nothing it carried is committed, and
//! the reason waits in a [`PayloadVerdict`] for the operation to answer with S3's error.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::{S3Error, S3ErrorCode};
use sha2::{Digest, Sha256};

/// Why a body was refused, once it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadRefusal {
    /// The body's SHA-256 is not the signed `x-amz-content-sha256`.
    Sha256Mismatch,
    /// An aws-chunked chunk (or the trailer) does not carry the signature its chain expects.
    ChunkSignature,
    /// The chunks decode to another length than `x-amz-decoded-content-length` declares.
    DecodedLength { declared: u64, decoded: u64 },
}

impl PayloadRefusal {
    pub fn s3_error(&self) -> S3Error {
        match self {
            PayloadRefusal::Sha256Mismatch => {
                let mut e = S3Error::with_message(
                    S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                );
                e.set_status_code(http::StatusCode::BAD_REQUEST);
                e
            }
            PayloadRefusal::ChunkSignature => S3Error::with_message(
                S3ErrorCode::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
            PayloadRefusal::DecodedLength { declared, decoded } => S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                format!(
                    "The x-amz-decoded-content-length header ({declared}) does not match the length of the decoded chunks ({decoded})."
                ),
            ),
        }
    }
}

/// Where a streamed body's refusal is left for the operation that reads it.
#[derive(Clone, Default)]
pub struct PayloadVerdict(Arc<Mutex<Option<PayloadRefusal>>>);

impl PayloadVerdict {
    pub fn refuse(&self, why: PayloadRefusal) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    pub fn refusal(&self) -> Option<PayloadRefusal> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The refusal an operation's request carries, if its body was refused.
pub fn refusal_of(extensions: &http::Extensions) -> Option<PayloadRefusal> {
    extensions
        .get::<PayloadVerdict>()
        .and_then(PayloadVerdict::refusal)
}

#[derive(Debug, thiserror::Error)]
#[error("the request body was refused: {0:?}")]
pub struct Refused(pub PayloadRefusal);

/// `body`, passed through while it is hashed; if its SHA-256 is not `expected`, the verdict is
/// set and the stream ends in an error instead of ending cleanly.
pub fn sha256_checked(body: Body, expected: [u8; 32], verdict: PayloadVerdict) -> Body {
    let stream = body.into_data_stream();
    Body::from_stream(checked(stream, expected, verdict))
}

fn checked<S, E>(
    input: S,
    expected: [u8; 32],
    verdict: PayloadVerdict,
) -> impl Stream<Item = Result<Bytes, axum::BoxError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<axum::BoxError>,
{
    futures_util::stream::unfold((input, Some(Sha256::new())), move |(mut input, hasher)| {
        let verdict = verdict.clone();
        async move {
            let mut hasher = hasher?;
            match input.next().await {
                Some(Ok(bytes)) => {
                    hasher.update(&bytes);
                    Some((Ok(bytes), (input, Some(hasher))))
                }
                Some(Err(e)) => Some((Err(e.into()), (input, None))),
                None if hasher.finalize().as_slice() == expected => None,
                None => {
                    verdict.refuse(PayloadRefusal::Sha256Mismatch);
                    Some((
                        Err(Refused(PayloadRefusal::Sha256Mismatch).into()),
                        (input, None),
                    ))
                }
            }
        }
    })
}

/// A hex SHA-256 (`x-amz-content-sha256` of a single-chunk payload) as bytes.
pub fn parse_sha256(hex_hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn drain(body: Body) -> Result<Vec<u8>, String> {
        axum::body::to_bytes(body, 1 << 20)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_body_whose_hash_differs_ends_in_an_error_and_says_why() {
        let expected: [u8; 32] = Sha256::digest(b"signed body").into();
        let verdict = PayloadVerdict::default();
        let good = sha256_checked(Body::from("signed body"), expected, verdict.clone());
        assert_eq!(drain(good).await.unwrap(), b"signed body");
        assert_eq!(verdict.refusal(), None);

        let bad = sha256_checked(Body::from("changed body"), expected, verdict.clone());
        assert!(drain(bad).await.is_err());
        assert_eq!(verdict.refusal(), Some(PayloadRefusal::Sha256Mismatch));
    }
}
