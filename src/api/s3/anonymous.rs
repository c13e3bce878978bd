//! sagebox's default mode accepts any credentials. s3s verifies every signature it sees, which
//! needs the caller's secret, so before a request reaches s3s this module makes it anonymous:
//! it drops the `Authorization` header and a presigned URL's signing query parameters, and
//! decodes an `aws-chunked` body (the framing current SDKs use for checksums and streaming
//! signatures) into plain bytes. Trailing checksum headers are kept in a [`Trailers`] slot in
//! the request's extensions, where the S3 api reads them once the body has been consumed.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::payload::{PayloadRefusal, PayloadVerdict};
use crate::aws::sigv4::chunks::ChunkSigner;

/// Trailing headers of an aws-chunked body, filled when the body has been read to its end.
#[derive(Clone, Default)]
pub struct Trailers(Arc<Mutex<Option<HeaderMap>>>);

impl Trailers {
    pub fn get(&self) -> Option<HeaderMap> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub fn make_anonymous(req: Request) -> Request {
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(header::AUTHORIZATION);
    if let Some(q) = parts.uri.query()
        && (q.contains("X-Amz-") || q.contains("Signature="))
    {
        // SigV4 (`X-Amz-*`) and SigV2 (`AWSAccessKeyId`, `Signature`, `Expires`) presigning.
        let presign = |kv: &&str| {
            let k = kv.split('=').next().unwrap_or("");
            k.starts_with("X-Amz-") || matches!(k, "AWSAccessKeyId" | "Signature" | "Expires")
        };
        let kept: Vec<&str> = q.split('&').filter(|kv| !presign(kv)).collect();
        let pq = if kept.is_empty() {
            parts.uri.path().to_string()
        } else {
            format!("{}?{}", parts.uri.path(), kept.join("&"))
        };
        let mut uri = Uri::builder().path_and_query(pq);
        if let Some(a) = parts.uri.authority() {
            uri = uri.authority(a.clone());
        }
        if let Some(s) = parts.uri.scheme() {
            uri = uri.scheme(s.clone());
        }
        if let Ok(u) = uri.build() {
            parts.uri = u;
        }
    }
    let streaming = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    parts.headers.remove("x-amz-content-sha256");
    if !streaming {
        return Request::from_parts(parts, body);
    }
    let declared_length = parts
        .headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = parts.headers.remove("x-amz-decoded-content-length") {
        parts.headers.insert(header::CONTENT_LENGTH, len);
    }
    // `Content-Encoding: aws-chunked[, gzip]`: only the framing goes.
    if let Some(enc) = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        let rest: Vec<&str> = enc
            .split(',')
            .map(str::trim)
            .filter(|e| *e != "aws-chunked" && !e.is_empty())
            .collect();
        if rest.is_empty() {
            parts.headers.remove(header::CONTENT_ENCODING);
        } else if let Ok(v) = HeaderValue::from_str(&rest.join(",")) {
            parts.headers.insert(header::CONTENT_ENCODING, v);
        }
    }
    let trailers = Trailers::default();
    parts.extensions.insert(trailers.clone());
    let verdict = parts
        .extensions
        .get::<PayloadVerdict>()
        .cloned()
        .unwrap_or_default();
    parts.extensions.insert(verdict.clone());
    let checks = ChunkChecks {
        declared_length,
        signer: parts.extensions.remove::<ChunkSigner>(),
        verdict,
    };
    let decoded = decode_aws_chunked(body.into_data_stream(), trailers, checks);
    Request::from_parts(parts, Body::from_stream(decoded))
}

enum State {
    /// Expecting `<hex size>[;chunk-signature=…]\r\n`.
    Header,
    /// Inside a chunk's data, this many bytes left, then `\r\n`.
    Data(usize),
    DataEnd,
    /// After the zero-size chunk: `name:value\r\n` lines until an empty line.
    Trailer,
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Refused(#[from] super::payload::Refused),
}

/// What decoding checks besides the framing: the declared decoded length (always), and under
/// `--auth strict` each chunk's chained signature.
#[derive(Default)]
pub struct ChunkChecks {
    pub declared_length: Option<u64>,
    pub signer: Option<ChunkSigner>,
    pub verdict: PayloadVerdict,
}

/// What the decoder does next.
enum Step {
    /// Needs more input.
    More,
    Continue,
    Yield(Result<Bytes, ChunkError>),
    End,
}

/// The decoder's state between pieces of input.
struct Decoder<S> {
    input: S,
    buf: BytesMut,
    state: State,
    found: HeaderMap,
    /// Trailer lines as signed: `name:value\n` each, the signature line left out.
    trailer_lines: String,
    trailer_signature: Option<String>,
    slot: Trailers,
    eof: bool,
    checks: ChunkChecks,
    /// The signature the current chunk claims, and its data's hash so far.
    claimed: String,
    hasher: Sha256,
    decoded: u64,
}

impl<S> Decoder<S> {
    fn fail(&mut self, why: &'static str) -> Step {
        self.state = State::Done;
        Step::Yield(Err(ChunkError::Malformed(why)))
    }

    fn refuse(&mut self, why: PayloadRefusal) -> Step {
        self.state = State::Done;
        self.checks.verdict.refuse(why.clone());
        Step::Yield(Err(super::payload::Refused(why).into()))
    }

    fn step(&mut self) -> Step {
        match self.state {
            State::Done => Step::End,
            State::Data(n) if !self.buf.is_empty() => {
                let take = n.min(self.buf.len());
                let out = self.buf.split_to(take).freeze();
                self.state = if take == n {
                    State::DataEnd
                } else {
                    State::Data(n - take)
                };
                if self.checks.signer.is_some() {
                    self.hasher.update(&out);
                }
                self.decoded += take as u64;
                match self.checks.declared_length {
                    Some(declared) if self.decoded > declared => {
                        self.refuse(PayloadRefusal::DecodedLength {
                            declared,
                            decoded: self.decoded,
                        })
                    }
                    _ => Step::Yield(Ok(out)),
                }
            }
            State::DataEnd if self.buf.len() >= 2 => {
                if &self.buf[..2] != b"\r\n" {
                    return self.fail("chunk data not followed by CRLF");
                }
                self.buf.advance(2);
                if !self.chunk_ended() {
                    return self.refuse(PayloadRefusal::ChunkSignature);
                }
                self.state = State::Header;
                Step::Continue
            }
            State::Header | State::Trailer => self.line(),
            _ => Step::More,
        }
    }

    /// A chunk ended: its signature must be the next in the chain.
    fn chunk_ended(&mut self) -> bool {
        let hash = std::mem::take(&mut self.hasher).finalize();
        let claimed = std::mem::take(&mut self.claimed);
        self.checks
            .signer
            .as_mut()
            .is_none_or(|s| s.chunk(&hash, &claimed))
    }

    /// The body is complete: lengths and the trailer's signature agree, or the body is refused.
    fn finish(&mut self) -> Step {
        if let Some(declared) = self.checks.declared_length
            && declared != self.decoded
        {
            return self.refuse(PayloadRefusal::DecodedLength {
                declared,
                decoded: self.decoded,
            });
        }
        if let (Some(signer), Some(sig)) =
            (self.checks.signer.as_mut(), self.trailer_signature.take())
            && !signer.trailer(&self.trailer_lines, &sig)
        {
            return self.refuse(PayloadRefusal::ChunkSignature);
        }
        *self.slot.0.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(std::mem::take(&mut self.found));
        self.state = State::Done;
        Step::End
    }

    /// One header or trailer line, if a whole one is in the buffer.
    fn line(&mut self) -> Step {
        let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") else {
            return Step::More;
        };
        let line = self.buf.split_to(i).freeze();
        self.buf.advance(2);
        let line = String::from_utf8_lossy(&line).to_string();
        if let State::Header = self.state {
            let mut fields = line.split(';');
            let size_hex = fields.next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_hex, 16) else {
                return self.fail("bad chunk size");
            };
            self.claimed = fields
                .find_map(|f| f.trim().strip_prefix("chunk-signature="))
                .unwrap_or("")
                .to_string();
            if size > 0 {
                self.state = State::Data(size);
            } else if self.chunk_ended() {
                self.state = State::Trailer;
            } else {
                return self.refuse(PayloadRefusal::ChunkSignature);
            }
        } else if line.is_empty() {
            return self.finish();
        } else if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("x-amz-trailer-signature") {
                self.trailer_signature = Some(value.to_string());
            } else {
                self.trailer_lines
                    .push_str(&format!("{}:{value}\n", name.to_ascii_lowercase()));
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
                    self.found.insert(n, v);
                }
            }
        }
        Step::Continue
    }
}

/// Decodes aws-chunked framing, with `checks` applied as the chunks pass.
fn decode_aws_chunked<S, E>(
    input: S,
    trailers: Trailers,
    checks: ChunkChecks,
) -> impl Stream<Item = Result<Bytes, ChunkError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send,
{
    let decoder = Decoder {
        input,
        buf: BytesMut::new(),
        state: State::Header,
        found: HeaderMap::new(),
        trailer_lines: String::new(),
        trailer_signature: None,
        slot: trailers,
        eof: false,
        checks,
        claimed: String::new(),
        hasher: Sha256::new(),
        decoded: 0,
    };
    futures_util::stream::unfold(decoder, |mut d| async move {
        loop {
            match d.step() {
                Step::Yield(item) => return Some((item, d)),
                Step::End => return None,
                Step::Continue => continue,
                Step::More => {}
            }
            if d.eof {
                // A body may end right after the last chunk without the final empty line
                // (unsigned bodies may even leave out the final chunk).
                let complete = match d.state {
                    State::Trailer => true,
                    State::Header => d.checks.signer.is_none(),
                    _ => false,
                };
                let step = if complete && d.buf.is_empty() {
                    d.finish()
                } else {
                    d.fail("body ended inside a chunk")
                };
                return match step {
                    Step::Yield(item) => Some((item, d)),
                    _ => None,
                };
            }
            match d.input.next().await {
                Some(Ok(bytes)) => d.buf.extend_from_slice(&bytes),
                Some(Err(_)) => {
                    let step = d.fail("the request body could not be read");
                    return match step {
                        Step::Yield(item) => Some((item, d)),
                        _ => None,
                    };
                }
                None => d.eof = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn decodes_chunks_and_keeps_trailers_whatever_the_split() {
        let wire = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:zz\r\n\r\n";
        for split in [1, 3, 7, wire.len()] {
            let pieces: Vec<Result<Bytes, std::io::Error>> = wire
                .chunks(split)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let slot = Trailers::default();
            let out: Vec<_> = decode_aws_chunked(
                futures_util::stream::iter(pieces),
                slot.clone(),
                ChunkChecks::default(),
            )
            .collect()
            .await;
            let data: Vec<u8> = out.into_iter().flat_map(|r| r.unwrap().to_vec()).collect();
            assert_eq!(data, b"hello world");
            let t = slot.get().unwrap();
            assert_eq!(t.get("x-amz-checksum-crc32").unwrap(), "AAAAAA==");
            assert!(t.get("x-amz-trailer-signature").is_none());
        }
    }
}
