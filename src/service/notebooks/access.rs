//! Who may reach a notebook instance's Jupyter. CreatePresignedNotebookInstanceUrl hands out an
//! `authToken` that is good for a short while (AWS: 5 minutes); exchanging it opens a session
//! (a cookie) that lasts `SessionExpirationDurationInSeconds`. Both are HMAC-SHA256 signed with
//! a key kept in the data directory, so they survive a sagebox restart and cannot be forged.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A presigned URL's `authToken`: may be exchanged for a session of `session_secs`.
    Url { session_secs: u64 },
    /// An open browser session.
    Session,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Forged,
    Expired,
    OtherInstance,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Malformed | Refusal::Forged => "Invalid or Expired Auth Token",
            Refusal::Expired => {
                "Invalid or Expired Auth Token: the presigned URL or session has expired. Create a new one with CreatePresignedNotebookInstanceUrl."
            }
            Refusal::OtherInstance => {
                "Invalid or Expired Auth Token: it was issued for another notebook instance"
            }
        }
    }
}

/// The signing key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// Reads `<dir>/url-key`, making it on first use.
    pub fn open(dir: &Path) -> std::io::Result<Signer> {
        Ok(Signer {
            key: private_key(dir, "url-key")?,
        })
    }

    #[cfg(test)]
    pub fn with_key(key: [u8; 32]) -> Signer {
        Signer { key }
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A token for `instance` that expires at `expires` (epoch seconds).
    pub fn issue(&self, instance: &str, grant: Grant, expires: u64) -> String {
        let kind = match grant {
            Grant::Url { session_secs } => format!("url:{session_secs}"),
            Grant::Session => "session".into(),
        };
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let payload = format!(
            "{}|{kind}|{expires}|{}",
            instance.to_ascii_lowercase(),
            &nonce[..8]
        );
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload.as_bytes()),
            URL_SAFE_NO_PAD.encode(self.mac(&payload))
        )
    }

    /// Checks a token for `instance` at time `now`.
    pub fn verify(&self, token: &str, instance: &str, now: u64) -> Result<Grant, Refusal> {
        let (payload, sig) = token.split_once('.').ok_or(Refusal::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(Refusal::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| Refusal::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| Refusal::Forged)?;
        let mut parts = payload.split('|');
        let (Some(name), Some(kind), Some(expires)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Malformed);
        };
        if !name.eq_ignore_ascii_case(instance) {
            return Err(Refusal::OtherInstance);
        }
        let expires: u64 = expires.parse().map_err(|_| Refusal::Malformed)?;
        if now >= expires {
            return Err(Refusal::Expired);
        }
        match kind.split_once(':') {
            Some(("url", secs)) => Ok(Grant::Url {
                session_secs: secs.parse().map_err(|_| Refusal::Malformed)?,
            }),
            None if kind == "session" => Ok(Grant::Session),
            _ => Err(Refusal::Malformed),
        }
    }
}

/// A random 32-byte key kept in `<dir>/<name>` (mode 0600), made on first use.
pub fn private_key(dir: &Path, name: &str) -> std::io::Result<[u8; 32]> {
    let path = dir.join(name);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    std::fs::create_dir_all(dir)?;
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let tmp = dir.join(format!("{name}.tmp"));
    write_private(&tmp, &key)?;
    std::fs::rename(&tmp, &path)?;
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_instance_and_until_they_expire() {
        let s = Signer::with_key([7; 32]);
        let t = s.issue("Nb-1", Grant::Url { session_secs: 1800 }, 1000);
        assert_eq!(
            s.verify(&t, "nb-1", 999),
            Ok(Grant::Url { session_secs: 1800 })
        );
        assert_eq!(s.verify(&t, "nb-1", 1000), Err(Refusal::Expired));
        assert_eq!(s.verify(&t, "nb-2", 999), Err(Refusal::OtherInstance));
        let session = s.issue("nb-1", Grant::Session, 2000);
        assert_eq!(s.verify(&session, "NB-1", 1500), Ok(Grant::Session));
    }

    #[test]
    fn forged_and_mangled_tokens_are_refused() {
        let s = Signer::with_key([7; 32]);
        let other = Signer::with_key([8; 32]);
        let t = other.issue("nb", Grant::Session, 2000);
        assert_eq!(s.verify(&t, "nb", 1), Err(Refusal::Forged));
        assert_eq!(s.verify("garbage", "nb", 1), Err(Refusal::Malformed));
        let good = s.issue("nb", Grant::Session, 2000);
        let (payload, sig) = good.split_once('.').unwrap();
        let edited = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("2000", "9999"),
        );
        assert_eq!(
            s.verify(&format!("{edited}.{sig}"), "nb", 1),
            Err(Refusal::Forged)
        );
    }

    #[test]
    fn the_key_is_kept_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let a = Signer::open(dir.path()).unwrap();
        let b = Signer::open(dir.path()).unwrap();
        let t = a.issue("nb", Grant::Session, 10);
        assert_eq!(b.verify(&t, "nb", 1), Ok(Grant::Session));
    }
}
