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
    let decoded = decode_aws_chunked(body.into_data_stream(), trailers);
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
#[error("malformed aws-chunked body: {0}")]
pub struct ChunkError(&'static str);

/// Decodes aws-chunked framing (chunk signatures are not checked in this mode).
fn decode_aws_chunked<S, E>(
    input: S,
    trailers: Trailers,
) -> impl Stream<Item = Result<Bytes, ChunkError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send,
{
    let init = (
        input,
        BytesMut::new(),
        State::Header,
        HeaderMap::new(),
        trailers,
        false,
    );
    futures_util::stream::unfold(
        init,
        |(mut input, mut buf, mut state, mut found, slot, mut eof)| async move {
            loop {
                match state {
                    State::Done => return None,
                    State::Data(n) if !buf.is_empty() => {
                        let take = n.min(buf.len());
                        let out = buf.split_to(take).freeze();
                        state = if take == n {
                            State::DataEnd
                        } else {
                            State::Data(n - take)
                        };
                        return Some((Ok(out), (input, buf, state, found, slot, eof)));
                    }
                    State::DataEnd if buf.len() >= 2 => {
                        if &buf[..2] != b"\r\n" {
                            return Some((
                                Err(ChunkError("chunk data not followed by CRLF")),
                                (input, buf, State::Done, found, slot, eof),
                            ));
                        }
                        buf.advance(2);
                        state = State::Header;
                        continue;
                    }
                    State::Header | State::Trailer => {
                        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                            let line = buf.split_to(i).freeze();
                            buf.advance(2);
                            let line = String::from_utf8_lossy(&line).to_string();
                            if let State::Header = state {
                                let size_hex = line.split(';').next().unwrap_or("").trim();
                                let Ok(size) = usize::from_str_radix(size_hex, 16) else {
                                    return Some((
                                        Err(ChunkError("bad chunk size")),
                                        (input, buf, State::Done, found, slot, eof),
                                    ));
                                };
                                state = if size == 0 {
                                    State::Trailer
                                } else {
                                    State::Data(size)
                                };
                            } else if line.is_empty() {
                                *slot.0.lock().unwrap_or_else(|p| p.into_inner()) =
                                    Some(std::mem::take(&mut found));
                                state = State::Done;
                            } else if let Some((name, value)) = line.split_once(':')
                                && !name.eq_ignore_ascii_case("x-amz-trailer-signature")
                                && let (Ok(n), Ok(v)) = (
                                    HeaderName::try_from(name.trim()),
                                    HeaderValue::from_str(value.trim()),
                                )
                            {
                                found.insert(n, v);
                            }
                            continue;
                        }
                    }
                    _ => {}
                }
                if eof {
                    // A body may end right after the last chunk without the final empty line.
                    if matches!(state, State::Trailer | State::Header) && buf.is_empty() {
                        *slot.0.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(std::mem::take(&mut found));
                        return None;
                    }
                    return Some((
                        Err(ChunkError("body ended inside a chunk")),
                        (input, buf, State::Done, found, slot, eof),
                    ));
                }
                match input.next().await {
                    Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                    Some(Err(_)) => {
                        return Some((
                            Err(ChunkError("the request body could not be read")),
                            (input, buf, State::Done, found, slot, eof),
                        ));
                    }
                    None => eof = true,
                }
            }
        },
    )
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
            let out: Vec<_> = decode_aws_chunked(futures_util::stream::iter(pieces), slot.clone())
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
