//! aws-chunked bodies signed chunk by chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, with or
//! without a trailer): each chunk's signature chains from the previous one, starting at the
//! request's own signature, so a chunk cannot be changed, dropped, reordered or replayed.

use sha2::{Digest, Sha256};

use super::{Verified, constant_time_eq, hmac};

/// SHA-256 of the empty string, which every chunk's string to sign carries.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The next signature expected in a chain.
#[derive(Debug, Clone)]
pub struct ChunkSigner {
    key: Vec<u8>,
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    /// A chain seeded by a verified request whose payload is signed in chunks.
    pub fn seeded_by(v: &Verified) -> Option<ChunkSigner> {
        v.payload_hash
            .starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            .then(|| ChunkSigner {
                key: v.signing_key.clone(),
                amz_date: v.amz_date.clone(),
                scope: v.scope.clone(),
                previous: v.signature.clone(),
            })
    }

    /// Checks the signature a chunk claims, given the SHA-256 of its data; the chain moves on
    /// either way.
    pub fn chunk(&mut self, data_sha256: &[u8], claimed: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        );
        self.advance(&to_sign, claimed)
    }

    /// Checks the trailer's signature over its header lines (`name:value\n` each).
    pub fn trailer(&mut self, lines: &str, claimed: &str) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(Sha256::digest(lines.as_bytes()))
        );
        self.advance(&to_sign, claimed)
    }

    fn advance(&mut self, to_sign: &str, claimed: &str) -> bool {
        let expected = hex::encode(hmac(&self.key, to_sign.as_bytes()));
        let ok = constant_time_eq(expected.as_bytes(), claimed.as_bytes());
        self.previous = expected;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunked PutObject example of AWS's "Signature Calculations for the Authorization
    /// Header: Transferring Payload in Multiple Chunks" page: 66,560 bytes of `a` in chunks of
    /// 65,536 and 1,024, then the final empty chunk.
    #[test]
    fn the_documented_chain_verifies_and_a_changed_chunk_does_not() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let scope = "20130524/us-east-1/s3/aws4_request";
        let mut key = format!("AWS4{secret}").into_bytes();
        for part in scope.split('/') {
            key = hmac(&key, part.as_bytes());
        }
        let verified = Verified {
            payload_hash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
            signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
            amz_date: "20130524T000000Z".into(),
            scope: scope.into(),
            signing_key: key,
        };
        let mut chain = ChunkSigner::seeded_by(&verified).unwrap();
        let first = Sha256::digest(vec![b'a'; 65536]);
        let second = Sha256::digest(vec![b'a'; 1024]);
        let last = Sha256::digest(b"");
        assert!(chain.chunk(
            &first,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        ));
        assert!(chain.chunk(
            &second,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        ));
        assert!(chain.chunk(
            &last,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        ));

        let mut chain = ChunkSigner::seeded_by(&verified).unwrap();
        let changed = Sha256::digest(vec![b'b'; 65536]);
        assert!(!chain.chunk(
            &changed,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        ));
    }
}
